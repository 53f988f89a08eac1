package org.kuzet.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.currentBackStackEntryAsState
import androidx.navigation.compose.rememberNavController

/** The screens of the bottom bar. */
private enum class Screen(val route: String, val label: String) {
    TEST("test", "Test now"),
    HISTORY("history", "Results"),
    UPLOADS("uploads", "Uploads"),
    TIMELINE("timeline", "Timeline"),
    SETTINGS("settings", "Settings"),
}

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as KuzetApplication
        setContent {
            MaterialTheme {
                var onboarded by remember { mutableStateOf(app.settings.consentAccepted()) }
                if (!onboarded) {
                    OnboardingScreen(onAccepted = { choices ->
                        app.settings.saveChoices(choices)
                        app.settings.acceptConsent()
                        app.settingsChanged()
                        BackgroundWorker.ensureScheduled(app)
                        onboarded = true
                    })
                } else {
                    MainScreens(app)
                }
            }
        }
    }
}

@Composable
private fun MainScreens(app: KuzetApplication) {
    val nav = rememberNavController()
    val current by nav.currentBackStackEntryAsState()
    Scaffold(
        bottomBar = {
            NavigationBar {
                for (screen in Screen.entries) {
                    NavigationBarItem(
                        selected = current?.destination?.route == screen.route,
                        onClick = { nav.navigate(screen.route) { launchSingleTop = true } },
                        icon = { Text(screen.label.take(1)) },
                        label = { Text(screen.label) },
                    )
                }
            }
        },
    ) { padding ->
        NavHost(nav, startDestination = Screen.TEST.route, modifier = Modifier.padding(padding)) {
            composable(Screen.TEST.route) { TestNowScreen() }
            composable(Screen.HISTORY.route) { HistoryScreen(app) }
            composable(Screen.UPLOADS.route) { UploadsScreen(app) }
            composable(Screen.TIMELINE.route) { TimelineScreen(app) }
            composable(Screen.SETTINGS.route) { SettingsScreen(app) }
        }
    }
}
