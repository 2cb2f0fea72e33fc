//! Resolving a follow-up question ("那他怎么看Meta？") into a standalone query.

use tingwen_core::{ChatMessage, ChatRole, GenerationRequest, Generator, SamplingParams};

use crate::text::{char_len, is_han};

const ZH_PRONOUNS: &[&str] = &["他们", "她们", "它们", "他", "她", "它", "这个人", "这位"];
const ZH_FOLLOWUP_MARKERS: &[&str] = &[
    "那",
    "那么",
    "还有",
    "另外",
    "呢",
    "这个",
    "这件事",
    "这点",
    "那个",
    "他",
    "她",
    "它",
    "其",
    "为什么",
    "具体",
];
const EN_PRONOUNS: &[&str] = &[
    "he", "she", "they", "him", "her", "them", "his", "their", "it",
];
const EN_FOLLOWUP_STARTS: &[&str] = &[
    "and",
    "what about",
    "how about",
    "why",
    "also",
    "so",
    "then",
];
/// Question words and verbs that end a Chinese question's subject ("张璐|怎么看…").
const ZH_SUBJECT_ENDS: &[&str] = &[
    "怎么",
    "如何",
    "为什么",
    "为何",
    "觉得",
    "认为",
    "说",
    "提到",
    "讲",
    "对",
    "是",
    "有",
    "把",
    "在",
    "的",
    "用",
    "给",
    "会",
    "能",
    "想",
    "做",
    "刚",
    "最",
    "和",
    "跟",
    "与",
];

/// The last user question in the history, if any.
fn previous_question(history: &[ChatMessage]) -> Option<&str> {
    history
        .iter()
        .rev()
        .find(|m| m.role == ChatRole::User)
        .map(|m| m.content.as_str())
        .filter(|c| !c.trim().is_empty())
}

/// Whether the question leans on earlier turns (a pronoun, "那…呢", "what about").
pub(crate) fn looks_like_followup(question: &str) -> bool {
    let q = question.trim();
    let lower = q.to_lowercase();
    let han = q.chars().filter(|c| is_han(*c)).count();
    if han > 0 {
        let short = char_len(q) <= 12;
        ZH_PRONOUNS.iter().any(|p| q.contains(p))
            || q.ends_with("呢？")
            || q.ends_with('呢')
            || (short && ZH_FOLLOWUP_MARKERS.iter().any(|m| q.starts_with(m)))
    } else {
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        words.iter().any(|w| EN_PRONOUNS.contains(w))
            || EN_FOLLOWUP_STARTS.iter().any(|s| lower.starts_with(s))
            || words.len() <= 3
    }
}

/// The subject of a Chinese question: the text before its first question
/// word or verb ("张璐怎么看OpenAI？" → "张璐").
fn zh_subject(question: &str) -> Option<String> {
    let q = question.trim().trim_start_matches(['那', '么']);
    let cut = ZH_SUBJECT_ENDS
        .iter()
        .filter_map(|w| q.find(w))
        .filter(|&i| i > 0)
        .min()?;
    let subject = q[..cut].trim_matches(|c: char| !c.is_alphanumeric());
    (char_len(subject) >= 2 && char_len(subject) <= 12).then(|| subject.to_string())
}

/// Capitalised words of an English question that are not question words
/// ("What did Bruce say about SpaceX?" → ["Bruce", "SpaceX"]).
fn en_entities(question: &str) -> Vec<String> {
    const SKIP: &[&str] = &[
        "What",
        "Who",
        "Why",
        "How",
        "When",
        "Where",
        "Which",
        "Did",
        "Does",
        "Do",
        "Is",
        "Are",
        "Was",
        "Were",
        "Can",
        "Could",
        "Would",
        "Should",
        "The",
        "A",
        "An",
        "And",
        "According",
        "Asked",
        "Since",
        "For",
        "In",
        "On",
        "I",
    ];
    let mut out: Vec<String> = Vec::new();
    for word in question.split(|c: char| !(c.is_alphanumeric() || c == '-')) {
        let starts_upper = word.chars().next().is_some_and(|c| c.is_uppercase());
        let has_han = word.chars().any(is_han);
        if (starts_upper || has_han) && !SKIP.contains(&word) && !out.iter().any(|w| w == word) {
            out.push(word.to_string());
        }
    }
    out
}

/// Heuristic rewrite without a chat model: substitute the previous
/// question's subject for a pronoun, or append its subject terms.
pub(crate) fn resolve_without_model(question: &str, history: &[ChatMessage]) -> String {
    let Some(previous) = previous_question(history) else {
        return question.to_string();
    };
    if !looks_like_followup(question) {
        return question.to_string();
    }
    let q = question.trim();
    if q.chars().any(is_han) {
        if let Some(subject) = zh_subject(previous) {
            for pronoun in ZH_PRONOUNS {
                if q.contains(pronoun) {
                    let replaced = q.replacen(pronoun, &subject, 1);
                    return replaced.trim_start_matches('那').to_string();
                }
            }
            if !q.contains(&subject) {
                return format!("{subject} {}", q.trim_start_matches('那'));
            }
            return q.to_string();
        }
        let entities = en_entities(previous);
        if !entities.is_empty() {
            return format!("{} {q}", entities.join(" "));
        }
        return format!("{} {q}", previous.trim());
    }
    let entities = en_entities(previous);
    if entities.is_empty() {
        return format!("{q} ({})", previous.trim());
    }
    // Replace the first personal pronoun with the previous question's first entity.
    let mut substituted = false;
    let words: Vec<String> = q
        .split(' ')
        .map(|w| {
            let bare = w.trim_matches(|c: char| !c.is_alphanumeric());
            let pronoun =
                ["he", "she", "him", "they", "them"].contains(&bare.to_ascii_lowercase().as_str());
            if pronoun && !substituted {
                substituted = true;
                w.replace(bare, &entities[0])
            } else {
                w.to_string()
            }
        })
        .collect();
    let rewritten = words.join(" ");
    let missing: Vec<&str> = entities
        .iter()
        .map(String::as_str)
        .filter(|e| !rewritten.contains(e))
        .collect();
    if missing.is_empty() {
        rewritten
    } else {
        format!("{rewritten} ({})", missing.join(" "))
    }
}

/// Asks the chat model to rewrite the follow-up; falls back to the
/// heuristic when the model fails or answers with something unusable.
pub(crate) fn resolve_with_model(
    generator: &dyn Generator,
    question: &str,
    history: &[ChatMessage],
) -> String {
    let fallback = resolve_without_model(question, history);
    if previous_question(history).is_none() || !looks_like_followup(question) {
        return fallback;
    }
    let zh = question.chars().any(is_han);
    let recent: Vec<String> = history
        .iter()
        .rev()
        .take(4)
        .rev()
        .map(|m| {
            let who = match m.role {
                ChatRole::User => "User",
                ChatRole::Assistant => "Assistant",
                ChatRole::System => "System",
            };
            let content: String = m.content.chars().take(300).collect();
            format!("{who}: {content}")
        })
        .collect();
    let instruction = if zh {
        "把最后的追问改写成一个不依赖上下文、可以单独检索的完整问题。只输出改写后的问题。"
    } else {
        "Rewrite the follow-up as a standalone question that can be understood without the conversation. Output only the question."
    };
    let request = GenerationRequest {
        messages: vec![
            ChatMessage::new(ChatRole::System, instruction),
            ChatMessage::new(
                ChatRole::User,
                format!(
                    "{}\n\nFollow-up: {question}\nStandalone question:",
                    recent.join("\n")
                ),
            ),
        ],
        params: SamplingParams {
            max_tokens: 64,
            temperature: 0.0,
            stop: vec!["\n".into()],
            ..SamplingParams::default()
        },
    };
    let mut sink = |_: &str| true;
    match generator.generate(&request, &mut sink) {
        Ok(out) => {
            let text = out.text.trim().trim_matches('"').trim();
            let usable = !text.is_empty()
                && char_len(text) <= 3 * char_len(question) + 60
                && text.chars().any(is_han) == zh;
            if usable {
                text.to_string()
            } else {
                fallback
            }
        }
        Err(_) => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(q: &str) -> Vec<ChatMessage> {
        vec![
            ChatMessage::new(ChatRole::User, q),
            ChatMessage::new(ChatRole::Assistant, "……[1]"),
        ]
    }

    #[test]
    fn chinese_pronoun_takes_the_previous_subject() {
        let h = history("张璐怎么看OpenAI的策略？");
        assert_eq!(
            resolve_without_model("那他怎么看Meta？", &h),
            "张璐怎么看Meta？"
        );
    }

    #[test]
    fn chinese_elliptical_followup_gets_the_subject() {
        let h = history("张璐怎么看OpenAI的策略？");
        let q = resolve_without_model("那Meta呢？", &h);
        assert!(q.contains("张璐") && q.contains("Meta"), "{q}");
    }

    #[test]
    fn english_pronoun_is_replaced_by_the_entity() {
        let h = history("What did Bruce say about SpaceX?");
        let q = resolve_without_model("Would he buy into the IPO?", &h);
        assert!(q.contains("Bruce") && q.contains("IPO"), "{q}");
        let q = resolve_without_model("What about Tesla?", &h);
        assert!(q.contains("Bruce") && q.contains("Tesla"), "{q}");
    }

    #[test]
    fn standalone_questions_are_left_alone() {
        let h = history("张璐怎么看OpenAI的策略？");
        let q = "老于刚用上FSD V14第一版时为什么不太满意？";
        assert_eq!(resolve_without_model(q, &h), q);
        assert_eq!(
            resolve_without_model("那他怎么看Meta？", &[]),
            "那他怎么看Meta？"
        );
    }
}
