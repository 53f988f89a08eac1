import Kuzet
import KuzetSupport
import SwiftUI

/// The informed-consent onboarding: the risks, a quiz that must be answered right, then choices.
struct OnboardingView: View {
    @EnvironmentObject var model: AppModel
    @State private var answers: [Bool?] = Array(repeating: nil, count: Onboarding.quiz.count)
    @State private var mistakes: [String] = []
    @State private var upload = false

    var body: some View {
        Form {
            Section(header: Text("Before you start")) {
                ForEach(Onboarding.risks, id: \.self) { Text($0) }
            }
            Section(header: Text("Check that these are clear")) {
                ForEach(Onboarding.quiz.indices, id: \.self) { i in
                    VStack(alignment: .leading) {
                        Text(Onboarding.quiz[i].statement)
                        Picker("", selection: $answers[i]) {
                            Text("True").tag(Bool?.some(true))
                            Text("False").tag(Bool?.some(false))
                        }.pickerStyle(.segmented)
                    }
                }
                ForEach(mistakes, id: \.self) { Text($0).foregroundColor(.red) }
            }
            Section {
                Toggle("Upload my measurements so they are published (you can change this later)", isOn: $upload)
                Button("I understand, continue") {
                    mistakes = Onboarding.mistakes(answers)
                    if mistakes.isEmpty {
                        var choices = UserChoices()
                        choices.uploadAllowed = upload
                        model.acceptConsent(choices)
                    }
                }
            }
        }
    }
}

struct SettingsView: View {
    @EnvironmentObject var model: AppModel
    @State private var usage: DataUsage?
    @State private var message: String?

    var body: some View {
        Form {
            if let usage {
                Text("Data used in \(usage.month): \(Formatting.bytes(usage.bytesUsed)) of \(Formatting.bytes(usage.monthlyBudget)) (\(Formatting.percent(usage.bytesUsed, of: usage.monthlyBudget)) %)")
            }
            Section(header: Text("Consent")) {
                Toggle("Upload measurements (published openly)", isOn: $model.choices.uploadAllowed)
                Toggle("Website tests", isOn: $model.choices.web)
                Toggle("Connectivity checks", isOn: $model.choices.connectivity)
                Toggle("Throttling tests", isOn: $model.choices.throttling)
                Toggle("Messaging tests", isOn: $model.choices.messaging)
            }
            Section(header: Text("Data budgets (MiB)")) {
                Stepper("One test run: \(model.choices.runMiB)", value: $model.choices.runMiB, in: Choices.runRange, step: 5)
                Stepper("One background cycle: \(model.choices.backgroundMiB)", value: $model.choices.backgroundMiB, in: Choices.backgroundRange)
                Stepper("One month: \(model.choices.monthlyMiB)", value: $model.choices.monthlyMiB, in: Choices.monthlyRange, step: 50)
            }
            Section(header: Text("Websites to test (one per line)")) {
                TextEditor(text: $model.urlText).frame(minHeight: 120)
            }
            Section(header: Text("Services")) {
                TextField("Collector URL", text: $model.collectorURL)
                TextField("Test helper URLs", text: $model.testHelperURLs)
            }
            Button("Save") {
                model.save()
                message = "Saved."
            }
            Button("Delete all results and queued uploads", role: .destructive) {
                Task {
                    do {
                        try await model.engine().wipe()
                        message = "Everything Kuzet kept on this phone was deleted."
                    } catch {
                        message = "\(error)"
                    }
                }
            }
            if let message { Text(message) }
        }
        .task { usage = try? await model.engine().dataUsedThisMonth() }
    }
}
