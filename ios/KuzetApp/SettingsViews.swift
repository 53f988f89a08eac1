import Kuzet
import KuzetSupport
import SwiftUI

/// The informed-consent onboarding: the risks, a quiz that must be answered right, then choices.
struct OnboardingView: View {
    @EnvironmentObject var model: AppModel
    private let texts = onboarding()
    @State private var answers: [Bool?] = Array(repeating: nil, count: onboarding().quiz.count)
    @State private var mistakes: [String] = []
    @State private var upload = false

    var body: some View {
        Form {
            Section(header: Text("Before you start")) {
                ForEach(texts.risks, id: \.self) { Text($0) }
            }
            Section(header: Text("Check that these are clear")) {
                ForEach(texts.quiz.indices, id: \.self) { i in
                    VStack(alignment: .leading) {
                        Text(texts.quiz[i].statement)
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
                    mistakes = quizMistakes(answers: answers)
                    if mistakes.isEmpty {
                        var choices = defaultUserChoices()
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
    private let ranges = budgetRanges()
    @State private var usage: DataUsage?
    @State private var message: String?

    var body: some View {
        Form {
            if let usage {
                Text("Data used in \(usage.month): \(formatBytes(count: usage.bytesUsed)) of \(formatBytes(count: usage.monthlyBudget)) (\(percentOf(used: usage.bytesUsed, budget: usage.monthlyBudget)) %)")
            }
            Section(header: Text("Consent")) {
                Toggle("Upload measurements (published openly)", isOn: $model.choices.uploadAllowed)
                Toggle("Website tests", isOn: allows(.web))
                Toggle("Connectivity checks", isOn: allows(.connectivity))
                Toggle("Throttling tests", isOn: allows(.throttling))
                Toggle("Messaging tests", isOn: allows(.messaging))
            }
            Section(header: Text("Data budgets (MiB)")) {
                Stepper("One test run: \(model.choices.runMib)", value: $model.choices.runMib,
                        in: ranges.run.min...ranges.run.max, step: 5)
                Stepper("One background cycle: \(model.choices.backgroundMib)", value: $model.choices.backgroundMib,
                        in: ranges.background.min...ranges.background.max)
                Stepper("One month: \(model.choices.monthlyMib)", value: $model.choices.monthlyMib,
                        in: ranges.monthly.min...ranges.monthly.max, step: 50)
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

    /// Whether the user allows `suite`, as a toggle's binding.
    private func allows(_ suite: Suite) -> Binding<Bool> {
        Binding(
            get: { model.choices.suites.contains(suite) },
            set: { on in
                model.choices.suites.removeAll { $0 == suite }
                if on { model.choices.suites.append(suite) }
            }
        )
    }
}
