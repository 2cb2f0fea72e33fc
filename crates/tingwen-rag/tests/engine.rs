//! The answer engine against fake encoder, retriever and chat model:
//! extractive answers, refusal, language, every citation repair path,
//! fallback, follow-ups, cancellation, budgets, links and the evals.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{FakeRetriever, HashEmbedder, ScriptedGenerator};
use tingwen_core::{AnswerMode, ChatMessage, ChatRole, Generator, Language, SearchFilter};
use tingwen_rag::eval::{answer_eval, retrieval_eval, EvalQuestion};
use tingwen_rag::{AskEvent, AskRequest, Engine, EngineConfig, RagError};

const DOC_A: &str =
    "张璐认为垂直领域小语言模型的落地速度比她想象的快很多。这个转向发生在2025年下半年。\n\n\
张璐把AI公司分成两类。一类是模型中心的公司，比如OpenAI。另一类是系统中心的公司，比如谷歌。\n\n\
老于说FSD V14第一版还不如V13。车在右转的时候等了好久才过。";
const DOC_B: &str = "Bruce说SpaceX现在是8000亿的估值。他说上市可能要1.5万亿。\n\n\
讲者订了一台1X家用机器人，两百美金定金就可以定了。\n\n\
今天的天气很好，我们去公园散步。公园里有很多人。";

fn retriever() -> FakeRetriever {
    FakeRetriever::new(&[
        (
            "a.txt",
            "2026科技前瞻",
            DOC_A,
            Some("https://www.youtube.com/watch?v=abc"),
        ),
        ("b.txt", "智变时代", DOC_B, None),
    ])
}

fn config() -> EngineConfig {
    EngineConfig {
        refusal_threshold: 0.2,
        support_similarity: 0.6,
        ..EngineConfig::default()
    }
}

fn engine_with(
    r: FakeRetriever,
    generator: Option<Arc<ScriptedGenerator>>,
) -> (Engine, Arc<FakeRetriever>) {
    let r = Arc::new(r);
    let g = generator.map(|g| g as Arc<dyn tingwen_core::Generator>);
    (
        Engine::new(r.clone(), Arc::new(HashEmbedder), g, config()),
        r,
    )
}

/// Sources fixed in this order: [1] A para 1 (the two kinds of AI company),
/// [2] A para 0, [3] B para 0 (Bruce on SpaceX).
fn canned_engine(reply: &str) -> (Engine, Arc<ScriptedGenerator>, Arc<FakeRetriever>) {
    let mut r = retriever();
    r.canned = Some(vec![
        r.hit(1, 3.0, Some(0.9)),
        r.hit(0, 2.0, Some(0.8)),
        r.hit(3, 1.0, Some(0.7)),
    ]);
    let g = Arc::new(ScriptedGenerator::new(reply));
    let (e, r) = engine_with(r, Some(g.clone()));
    (e, g, r)
}

fn ask(engine: &Engine, request: &AskRequest) -> (tingwen_core::Answer, Vec<AskEvent>) {
    let mut events = Vec::new();
    let answer = engine
        .ask(request, &mut |e| {
            events.push(e);
            true
        })
        .unwrap();
    (answer, events)
}

fn assert_exact_spans(answer: &tingwen_core::Answer, r: &FakeRetriever) {
    for c in &answer.citations {
        let source = r.source_of(&c.doc_id).unwrap();
        assert_eq!(
            &source[c.start..c.end],
            c.text,
            "citation {} is not an exact span",
            c.n
        );
    }
}

const ZH_Q: &str = "张璐把AI公司分成哪两类？";

#[test]
fn extractive_answer_quotes_exact_sentences_with_citations() {
    let (engine, r) = engine_with(retriever(), None);
    let (answer, events) = ask(&engine, &AskRequest::new(ZH_Q));
    assert_eq!(answer.mode, AnswerMode::Extractive);
    assert_eq!(answer.language, Language::Zh);
    assert!(!answer.refused);
    assert!(answer
        .mode_reason
        .as_deref()
        .unwrap()
        .contains("no chat model"));
    assert!(
        answer.answer.contains("「张璐把AI公司分成两类。"),
        "{}",
        answer.answer
    );
    assert!(answer.citations[0].text.contains("模型中心"));
    assert!(answer.unsupported.is_empty());
    assert_exact_spans(&answer, &r);
    // Every quote is inside the passage its marker points at.
    for line in answer.answer.lines().skip(1) {
        let quote = line.split('「').nth(1).unwrap().split('」').next().unwrap();
        let n: usize = line
            .rsplit('[')
            .next()
            .unwrap()
            .trim_end_matches(']')
            .parse()
            .unwrap();
        assert!(answer.citations[n - 1].text.contains(quote), "{line}");
    }
    assert!(matches!(events.first(), Some(AskEvent::Sources(c)) if !c.is_empty()));
    assert!(matches!(events.last(), Some(AskEvent::Done(a)) if **a == answer));
}

#[test]
fn english_question_over_chinese_sources_is_answered_in_english() {
    let (engine, r) = engine_with(retriever(), None);
    let (answer, _) = ask(
        &engine,
        &AskRequest::new("What valuation did Bruce give for SpaceX?"),
    );
    assert_eq!(answer.language, Language::En);
    assert!(!answer.refused);
    assert!(
        answer.answer.contains("Chinese sources"),
        "{}",
        answer.answer
    );
    assert!(answer.citations.iter().any(|c| c.text.contains("8000亿")));
    assert_exact_spans(&answer, &r);
    // English questions also search with their Chinese translations.
    let searches = r.searches.lock().unwrap();
    assert!(
        searches.iter().any(|s| s.text.contains("估值")),
        "no expanded keyword search"
    );
}

#[test]
fn extractive_works_without_precomputed_sentence_vectors() {
    let mut r = retriever();
    r.sentence_vectors = false;
    let (engine, r) = engine_with(r, None);
    let (answer, _) = ask(
        &engine,
        &AskRequest::new("讲者订的家用机器人要交多少定金？"),
    );
    assert!(!answer.refused);
    assert!(answer.answer.contains("两百美金定金"), "{}", answer.answer);
    assert_exact_spans(&answer, &r);
}

#[test]
fn unrelated_questions_are_refused_in_the_askers_language() {
    let (engine, _) = engine_with(retriever(), None);
    let (zh, events) = ask(&engine, &AskRequest::new("量子计算机的纠错码怎么实现？"));
    assert!(zh.refused);
    assert_eq!(zh.language, Language::Zh);
    assert!(zh.answer.contains("没有涉及"));
    assert!(zh.citations.is_empty());
    assert!(matches!(events.last(), Some(AskEvent::Done(_))));

    let (en, _) = ask(
        &engine,
        &AskRequest::new("How does the quantum error correction code work?"),
    );
    assert!(en.refused);
    assert_eq!(en.language, Language::En);
    assert!(en.answer.contains("don't cover"));
}

#[test]
fn refusal_lists_the_nearest_passages_as_related() {
    // A threshold above anything the fake encoder reaches: everything is refused.
    let engine = Engine::new(
        Arc::new(retriever()),
        Arc::new(HashEmbedder),
        None,
        EngineConfig {
            refusal_threshold: 1.5,
            ..config()
        },
    );
    let (answer, _) = ask(&engine, &AskRequest::new(ZH_Q));
    assert!(answer.refused);
    assert!(!answer.related.is_empty());
    assert!(answer.related[0].text.contains("两类"));
}

#[test]
fn supported_generated_answer_keeps_its_citations() {
    let reply = "张璐把AI公司分成模型中心和系统中心两类。[1] 模型中心的公司比如OpenAI。[1]";
    let (engine, g, r) = canned_engine(reply);
    let (answer, events) = ask(&engine, &AskRequest::new(ZH_Q));
    assert_eq!(answer.mode, AnswerMode::Generate);
    assert!(answer.unsupported.is_empty(), "{:?}", answer.unsupported);
    assert_eq!(answer.citations.len(), 1);
    assert_eq!(answer.citations[0].n, 1);
    assert!(answer.answer.contains("[1]"));
    assert_exact_spans(&answer, &r);
    // The prompt numbers the sources and asks in Chinese.
    let prompt = g.last_prompt();
    assert!(
        prompt.contains("[1] 《2026科技前瞻》") && prompt.contains("[3] 《智变时代》"),
        "{prompt}"
    );
    assert!(prompt.contains("问题：张璐把AI公司分成哪两类？"));
    // Sources before text, text streamed in pieces, the verified answer last.
    assert!(matches!(&events[0], AskEvent::Sources(c) if c.len() == 3));
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            AskEvent::Delta(d) => Some(d.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, reply);
}

#[test]
fn out_of_range_citation_is_repaired() {
    let (engine, _, r) = canned_engine("张璐把AI公司分成模型中心和系统中心两类。[7]");
    let (answer, _) = ask(&engine, &AskRequest::new(ZH_Q));
    assert_eq!(answer.mode, AnswerMode::Generate);
    assert!(!answer.answer.contains("[7]"), "{}", answer.answer);
    assert!(answer.answer.contains("[1]"), "{}", answer.answer);
    assert!(answer.citations.iter().all(|c| (1..=3).contains(&c.n)));
    assert!(answer.mode_reason.clone().unwrap().contains("out-of-range"));
    assert_exact_spans(&answer, &r);
}

#[test]
fn missing_citation_is_added() {
    let (engine, _, _) = canned_engine("张璐把AI公司分成模型中心和系统中心两类。");
    let (answer, _) = ask(&engine, &AskRequest::new(ZH_Q));
    assert_eq!(answer.mode, AnswerMode::Generate);
    assert!(answer.answer.ends_with("[1]"), "{}", answer.answer);
    assert_eq!(answer.citations.len(), 1);
    assert!(answer
        .mode_reason
        .clone()
        .unwrap()
        .contains("added missing citation"));
}

#[test]
fn citation_of_the_wrong_source_is_replaced() {
    let (engine, _, _) = canned_engine("张璐把AI公司分成模型中心和系统中心两类。[3]");
    let (answer, _) = ask(&engine, &AskRequest::new(ZH_Q));
    assert!(
        answer.answer.contains("[1]") && !answer.answer.contains("[3]"),
        "{}",
        answer.answer
    );
    assert_eq!(
        answer.citations.iter().map(|c| c.n).collect::<Vec<_>>(),
        vec![1]
    );
}

#[test]
fn an_unsupported_sentence_is_flagged() {
    let reply = "张璐把AI公司分成两类。[1] 一类是模型中心的公司，比如OpenAI。[1] 她还说火星上有很多咖啡馆和游泳池。[2]";
    let (engine, _, _) = canned_engine(reply);
    let (answer, _) = ask(&engine, &AskRequest::new(ZH_Q));
    assert_eq!(answer.mode, AnswerMode::Generate);
    assert_eq!(answer.unsupported.len(), 1, "{:?}", answer.unsupported);
    assert!(answer.unsupported[0].contains("火星"));
}

#[test]
fn mostly_unsupported_answer_falls_back_to_extractive_in_auto_mode() {
    let reply = "火星上有很多咖啡馆和游泳池。[1] 月亮其实是奶酪做的。[2]";
    let (engine, _, r) = canned_engine(reply);
    let (answer, events) = ask(&engine, &AskRequest::new(ZH_Q));
    assert_eq!(answer.mode, AnswerMode::Extractive);
    let reason = answer.mode_reason.clone().unwrap();
    assert!(
        reason.starts_with("verification rejected the generated answer"),
        "{reason}"
    );
    assert!(answer.answer.contains("「"));
    assert!(!answer.answer.contains("火星"));
    assert!(events.iter().any(|e| matches!(e, AskEvent::Restart { .. })));
    assert_exact_spans(&answer, &r);
}

#[test]
fn mostly_unsupported_answer_in_generate_mode_is_flagged_not_passed_off() {
    let reply = "火星上有很多咖啡馆和游泳池。[1] 月亮其实是奶酪做的。[2]";
    let (engine, _, _) = canned_engine(reply);
    let request = AskRequest {
        mode: AnswerMode::Generate,
        ..AskRequest::new(ZH_Q)
    };
    let (answer, _) = ask(&engine, &request);
    assert_eq!(answer.mode, AnswerMode::Generate);
    assert_eq!(answer.unsupported.len(), 2);
    assert!(answer.answer.starts_with("（注意"), "{}", answer.answer);
    assert!(answer
        .mode_reason
        .clone()
        .unwrap()
        .contains("not supported"));
}

#[test]
fn answer_in_the_wrong_language_is_rejected() {
    let (engine, _, _) = canned_engine("张璐把AI公司分成模型中心和系统中心两类。[1]");
    let (answer, _) = ask(
        &engine,
        &AskRequest::new("Which two kinds of AI companies did Zhang Lu describe?"),
    );
    assert_eq!(answer.mode, AnswerMode::Extractive);
    assert!(answer.mode_reason.clone().unwrap().contains("language"));
    assert_eq!(answer.language, Language::En);
}

#[test]
fn generated_not_covered_answer_is_a_refusal_with_related_passages() {
    let (engine, _, _) = canned_engine("转录稿中没有提到。");
    let (answer, _) = ask(&engine, &AskRequest::new(ZH_Q));
    assert!(answer.refused);
    assert!(answer.citations.is_empty());
    assert!(!answer.related.is_empty());
}

#[test]
fn follow_up_carries_the_previous_subject_without_a_model() {
    let (engine, r) = engine_with(retriever(), None);
    let request = AskRequest {
        history: vec![
            ChatMessage::new(ChatRole::User, "张璐怎么看OpenAI？"),
            ChatMessage::new(ChatRole::Assistant, "她说OpenAI是模型中心的公司。[1]"),
        ],
        ..AskRequest::new("那她怎么看谷歌？")
    };
    let (answer, _) = ask(&engine, &request);
    assert_eq!(answer.query.as_deref(), Some("张璐怎么看谷歌？"));
    assert!(r
        .searches
        .lock()
        .unwrap()
        .iter()
        .any(|s| s.text == "张璐怎么看谷歌？"));
}

#[test]
fn follow_up_is_rewritten_by_the_model_when_present() {
    let g = Arc::new(ScriptedGenerator::new("张璐如何评价谷歌？"));
    let (engine, _) = engine_with(retriever(), Some(g.clone()));
    let history = vec![ChatMessage::new(ChatRole::User, "张璐怎么看OpenAI？")];
    let q = engine.standalone_query("那她怎么看谷歌？", &history, true);
    assert_eq!(q, "张璐如何评价谷歌？");
    // A standalone question is not rewritten at all.
    assert_eq!(engine.standalone_query(ZH_Q, &history, true), ZH_Q);
}

#[test]
fn cancelling_from_the_event_sink_stops_the_answer() {
    let (engine, _, _) = canned_engine("张璐把AI公司分成模型中心和系统中心两类。[1]");
    let mut deltas = 0;
    let result = engine.ask(&AskRequest::new(ZH_Q), &mut |e| {
        if matches!(e, AskEvent::Delta(_)) {
            deltas += 1;
        }
        deltas < 2
    });
    assert!(matches!(result, Err(RagError::Cancelled)));

    let (extractive, _) = engine_with(retriever(), None);
    let result = extractive.ask(&AskRequest::new(ZH_Q), &mut |_| false);
    assert!(matches!(result, Err(RagError::Cancelled)));
}

#[test]
fn invalid_requests_are_errors() {
    let (engine, _) = engine_with(retriever(), None);
    assert!(matches!(
        engine.ask(&AskRequest::new("  "), &mut |_| true),
        Err(RagError::InvalidInput(_))
    ));
    let zero_k = AskRequest {
        k: Some(0),
        ..AskRequest::new(ZH_Q)
    };
    assert!(matches!(
        engine.ask(&zero_k, &mut |_| true),
        Err(RagError::InvalidInput(_))
    ));
    let generate = AskRequest {
        mode: AnswerMode::Generate,
        ..AskRequest::new(ZH_Q)
    };
    assert!(matches!(
        engine.ask(&generate, &mut |_| true),
        Err(RagError::NoGenerator)
    ));
    assert!(engine.search(ZH_Q, 1000, &SearchFilter::default()).is_err());
}

#[test]
fn sources_are_cut_to_fit_the_context() {
    let mut r = retriever();
    r.canned = Some(vec![
        r.hit(1, 3.0, Some(0.9)),
        r.hit(0, 2.0, Some(0.8)),
        r.hit(3, 1.0, Some(0.7)),
    ]);
    let mut g = ScriptedGenerator::new("张璐把AI公司分成模型中心和系统中心两类。[1]");
    g.context = 240;
    let g = Arc::new(g);
    let r = Arc::new(r);
    let engine = Engine::new(
        r.clone(),
        Arc::new(HashEmbedder),
        Some(g.clone()),
        EngineConfig {
            answer_max_tokens: 100,
            ..config()
        },
    );
    let (answer, events) = ask(&engine, &AskRequest::new(ZH_Q));
    let prompt = g.last_prompt();
    let tokens = g
        .count_prompt_tokens(&g.requests.lock().unwrap()[0].messages)
        .unwrap();
    assert!(tokens <= 140, "{tokens}");
    assert!(prompt.contains("[1] 《"), "{prompt}");
    assert!(!prompt.contains("[3] 《"), "{prompt}");
    let AskEvent::Sources(sources) = &events[0] else {
        panic!("sources first")
    };
    assert!(sources.len() < 3);
    assert_eq!(answer.mode, AnswerMode::Generate);
}

#[test]
fn citations_link_to_the_video_moment() {
    let (engine, _) = engine_with(retriever(), None);
    let (answer, _) = ask(&engine, &AskRequest::new(ZH_Q));
    let c = answer
        .citations
        .iter()
        .find(|c| c.doc_id == "a.txt")
        .unwrap();
    assert_eq!(
        c.url.as_deref(),
        Some("https://www.youtube.com/watch?v=abc&t=60")
    );
    assert!(answer
        .citations
        .iter()
        .filter(|c| c.doc_id == "b.txt")
        .all(|c| c.url.is_none()));
}

#[test]
fn search_drops_near_duplicates_and_merges_touching_neighbours() {
    let mut r = retriever();
    let para = r.chunks[1].span;
    let mid = DOC_A[para.start..].find("一类是").unwrap() + para.start;
    r.canned = Some(vec![
        r.span_hit(0, para.start, mid),
        r.span_hit(0, para.start, mid), // duplicate
        r.span_hit(0, mid, para.end),   // touches the first
        r.hit(3, 1.0, Some(0.5)),
    ]);
    let (engine, r) = engine_with(r, None);
    let hits = engine.search(ZH_Q, 5, &SearchFilter::default()).unwrap();
    assert_eq!(hits.len(), 2, "{hits:#?}");
    let merged = hits.iter().find(|h| h.doc_id == "a.txt").unwrap();
    assert_eq!((merged.start, merged.end), (para.start, para.end));
    assert_eq!(
        merged.text,
        &r.source_of("a.txt").unwrap()[para.start..para.end]
    );
}

fn eval_questions() -> Vec<EvalQuestion> {
    let lines = [
        r#"{"id":"q1","lang":"zh","question":"张璐把AI公司分成哪两类？","evidence":["一类是模型中心的公司，比如OpenAI"]}"#,
        r#"{"id":"q2","lang":"zh","question":"老于为什么不喜欢FSD V14第一版？","evidence":["车在右转的时候等了好久才过"]}"#,
        r#"{"id":"q3","lang":"en","question":"What valuation did Bruce give for SpaceX?","evidence":["现在是8000亿的估值"]}"#,
        r#"{"id":"u1","lang":"zh","question":"量子计算机的纠错码怎么实现？","unanswerable":true}"#,
    ];
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn retrieval_eval_reports_every_system_and_language() {
    let (engine, _) = engine_with(retriever(), None);
    let report = retrieval_eval(&engine, &eval_questions()).unwrap();
    let names: Vec<&str> = report.systems.iter().map(|s| s.system.as_str()).collect();
    assert_eq!(names, ["dense", "keyword", "hybrid", "engine"]);
    let engine_report = report.system("engine").unwrap();
    assert_eq!(engine_report.overall.questions, 3);
    assert_eq!(engine_report.overall.recall_at_5, 1.0);
    assert_eq!(engine_report.by_language["en"].questions, 1);
    assert!(engine_report.overall.mrr_at_10 > 0.5);
    assert!(report.table().contains("engine   zh"));
}

#[test]
fn answer_eval_scores_citations_spans_and_refusals() {
    let (engine, r) = engine_with(retriever(), None);
    let source = |id: &str| r.source_of(id);
    let report = answer_eval(&engine, &eval_questions(), AnswerMode::Extractive, &source).unwrap();
    assert_eq!((report.answerable, report.unanswerable), (3, 1));
    assert_eq!(report.exact_span_share, 1.0);
    assert!(report.citations_checked >= 3);
    assert_eq!(report.refusal_rate_unanswerable, 1.0);
    assert_eq!(report.refusal_rate_answerable, 0.0);
    assert_eq!(report.citations_contain_gold, 1.0);
    assert!(report.table().contains("exact source spans"));
}
