//! The informed-consent onboarding: the risks in plain words (after OONI's informed-consent
//! points), a true/false quiz that must be answered right, and the version of both.

/// The version of [`RISKS`] and [`QUIZ`]. Bump it when either changes: everyone who accepted
/// an older version is asked again.
pub const CONSENT_VERSION: u32 = 1;

/// The points shown before the quiz.
pub const RISKS: [&str; 5] = [
    "Anyone watching your connection (your operator, the government, an employer) can see that you run Kuzet.",
    "Kuzet connects to sites that may be illegal to open here, such as banned news or VPN sites.",
    "Uploaded measurements are published openly: with your network, country, the time and the results. \
     Your IP address is not included, but your operator could still link a measurement to you by its time.",
    "Results kept on this phone show that it measured, for example during a shutdown, if the phone is seized. \
     You can delete them at any time.",
    "The risk depends on who you are, the law, and what you test. If in doubt, ask a digital-rights lawyer.",
];

/// One true/false question of the quiz, with what to say after a wrong answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuizQuestion {
    /// The statement the user marks true or false.
    pub statement: &'static str,
    /// The right answer.
    pub answer: bool,
    /// Shown when the answer was wrong (or missing).
    pub explanation: &'static str,
}

/// The quiz: every answer must be right to go on.
pub const QUIZ: [QuizQuestion; 3] = [
    QuizQuestion {
        statement: "Someone monitoring my internet connection can see that I am running Kuzet.",
        answer: true,
        explanation:
            "Kuzet's traffic to the sites it tests and to the collector is visible to your operator.",
    },
    QuizQuestion {
        statement: "The measurements I upload stay private.",
        answer: false,
        explanation: "They are published openly, with your network, country and the time.",
    },
    QuizQuestion {
        statement:
            "If my phone is taken, the results on it can show that I measured during a shutdown.",
        answer: true,
        explanation: "Delete them from Settings if that is a risk for you.",
    },
];

/// Whether the onboarding must be shown: never accepted (`None`), or accepted in a version
/// older than [`CONSENT_VERSION`].
pub fn needed(accepted_version: Option<u32>) -> bool {
    accepted_version.is_none_or(|version| version < CONSENT_VERSION)
}

/// The explanations of the wrong answers, in quiz order; empty when every answer is right.
/// `answers[i]` answers `QUIZ[i]`: a missing or `None` answer is wrong, extra answers are
/// ignored.
pub fn mistakes(answers: &[Option<bool>]) -> Vec<&'static str> {
    QUIZ.iter()
        .enumerate()
        .filter(|(i, question)| answers.get(*i).copied().flatten() != Some(question.answer))
        .map(|(_, question)| question.explanation)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn right_answers() -> Vec<Option<bool>> {
        QUIZ.iter().map(|q| Some(q.answer)).collect()
    }

    #[test]
    fn onboarding_is_needed_until_the_current_version_is_accepted() {
        assert!(needed(None));
        assert!(needed(Some(0)));
        assert!(needed(Some(CONSENT_VERSION - 1)));
        assert!(!needed(Some(CONSENT_VERSION)));
        assert!(!needed(Some(CONSENT_VERSION + 1)));
    }

    #[test]
    fn right_answers_pass() {
        assert!(mistakes(&right_answers()).is_empty());
        let mut more = right_answers();
        more.push(Some(true));
        assert!(mistakes(&more).is_empty(), "extra answers are ignored");
    }

    #[test]
    fn each_wrong_answer_gets_its_explanation_in_order() {
        let mut answers = right_answers();
        answers[1] = Some(!QUIZ[1].answer);
        assert_eq!(mistakes(&answers), vec![QUIZ[1].explanation]);
        answers[0] = Some(!QUIZ[0].answer);
        assert_eq!(
            mistakes(&answers),
            vec![QUIZ[0].explanation, QUIZ[1].explanation]
        );
    }

    #[test]
    fn unanswered_questions_are_wrong() {
        assert_eq!(mistakes(&[]).len(), QUIZ.len());
        let mut answers = right_answers();
        answers[2] = None;
        assert_eq!(mistakes(&answers), vec![QUIZ[2].explanation]);
        assert_eq!(mistakes(&answers[..1]).len(), QUIZ.len() - 1);
    }

    #[test]
    fn the_texts_are_plain_sentences() {
        for text in RISKS
            .iter()
            .chain(QUIZ.iter().flat_map(|q| [&q.statement, &q.explanation]))
        {
            assert!(text.ends_with('.'), "{text}");
            assert!(!text.contains("  "), "{text}");
        }
        assert!(QUIZ.iter().any(|q| q.answer) && QUIZ.iter().any(|q| !q.answer));
    }
}
