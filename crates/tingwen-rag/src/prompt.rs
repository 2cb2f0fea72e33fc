//! The numbered-source prompt of generate mode, in the question's language.

use tingwen_core::{ChatMessage, ChatRole, Hit, Language};

/// System instructions for the chat model.
pub(crate) fn system_prompt(language: Language) -> String {
    match language.answer_language() {
        Language::En => "You answer questions about podcast and talk transcripts using ONLY the numbered sources given. \
Write a short answer in English. After every claim, cite the source it comes from as [n], for example [1] or [2][3]. \
The sources may be in Chinese; translate what you use. \
If the sources do not contain the answer, say plainly: \"The transcripts do not say.\" Do not use outside knowledge."
            .to_string(),
        _ => "你根据给出的编号资料回答关于播客和讲座转录稿的问题，只能使用这些资料。\
用简体中文写一个简短的回答，每个论断后面用 [n] 标出它来自哪条资料，例如 [1] 或 [2][3]。\
如果资料里没有答案，就直接说：“转录稿中没有提到。”不要使用资料以外的知识。"
            .to_string(),
    }
}

/// One source block: `[n] 《title》 — speaker, 12:34` then the passage.
pub(crate) fn source_block(n: usize, hit: &Hit) -> String {
    let mut header = format!("[{n}] 《{}》", hit.title);
    let mut details: Vec<String> = Vec::new();
    if let Some(speaker) = &hit.speaker {
        details.push(speaker.clone());
    }
    if let Some(section) = &hit.section {
        details.push(section.clone());
    }
    if let Some(time) = hit.time {
        details.push(time.format_start());
    }
    if !details.is_empty() {
        header.push_str(" — ");
        header.push_str(&details.join(", "));
    }
    format!("{header}\n{}", hit.text.trim())
}

/// The full conversation sent to the model for these sources.
pub(crate) fn build_messages(language: Language, question: &str, hits: &[Hit]) -> Vec<ChatMessage> {
    let sources: Vec<String> = hits
        .iter()
        .enumerate()
        .map(|(i, h)| source_block(i + 1, h))
        .collect();
    let user = match language.answer_language() {
        Language::En => format!(
            "Sources:\n\n{}\n\nQuestion: {question}\nAnswer in English, citing sources as [n] after each claim.",
            sources.join("\n\n")
        ),
        _ => format!(
            "资料：\n\n{}\n\n问题：{question}\n请用中文回答，每个论断后用 [n] 标注来源。",
            sources.join("\n\n")
        ),
    };
    vec![
        ChatMessage::new(ChatRole::System, system_prompt(language)),
        ChatMessage::new(ChatRole::User, user),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tingwen_core::TimeRange;

    fn hit(text: &str) -> Hit {
        Hit {
            doc_id: "a.txt".into(),
            title: "标题".into(),
            text: text.into(),
            start: 0,
            end: text.len(),
            score: 1.0,
            speaker: Some("张璐".into()),
            section: None,
            time: Some(TimeRange {
                start: 754.0,
                end: 800.0,
            }),
            chunk_ids: vec![],
            dense_similarity: None,
        }
    }

    #[test]
    fn prompt_numbers_sources_with_metadata_in_the_question_language() {
        let zh = build_messages(Language::Zh, "问题？", &[hit("第一段"), hit("第二段")]);
        assert!(zh[1].content.contains("[1] 《标题》 — 张璐, 12:34\n第一段"));
        assert!(zh[1].content.contains("[2] 《标题》"));
        assert!(zh[0].content.contains("转录稿中没有提到"));
        let en = build_messages(Language::En, "Question?", &[hit("第一段")]);
        assert!(en[0].content.contains("The transcripts do not say"));
        assert!(en[1].content.contains("Question: Question?"));
    }
}
