//! The model's own chat template (`tokenizer.chat_template`), rendered with
//! minijinja plus the helpers Hugging Face templates expect.

use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::{context, Environment, Error, ErrorKind};
use serde::Serialize;
use tingwen_core::{ChatMessage, ChatRole};

use crate::LlmError;

const TEMPLATE_NAME: &str = "chat";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish()
    }
}

#[derive(Serialize)]
struct TemplateMessage<'a> {
    role: &'a str,
    content: &'a str,
}

fn role_name(role: ChatRole) -> &'static str {
    match role {
        ChatRole::System => "system",
        ChatRole::User => "user",
        ChatRole::Assistant => "assistant",
    }
}

fn raise_exception(message: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(format)` for templates that print today's date; supports
/// the directives such templates use (`%d %m %Y %y %b %B %H %M %S %%`).
fn strftime_now(format: String) -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(seconds, &format)
}

fn format_utc(unix_seconds: u64, format: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let days = (unix_seconds / 86_400) as i64;
    let secs_of_day = unix_seconds % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month_name = MONTHS[(month - 1) as usize];

    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('b') => out.push_str(&month_name[..3]),
            Some('B') => out.push_str(month_name),
            Some('H') => out.push_str(&format!("{:02}", secs_of_day / 3600)),
            Some('M') => out.push_str(&format!("{:02}", secs_of_day % 3600 / 60)),
            Some('S') => out.push_str(&format!("{:02}", secs_of_day % 60)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

impl ChatTemplate {
    /// Compiles a template; `bos_token`/`eos_token` are the texts templates
    /// may print.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, LlmError> {
        let mut env = Environment::new();
        // HF templates are written for Python Jinja: `.strip()`, `.startswith()`...
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(TEMPLATE_NAME.to_string(), source.to_string())
            .map_err(|e| LlmError::Template(format!("cannot parse: {e}")))?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// Renders a conversation; with `add_generation_prompt` the text ends
    /// with the opening of the assistant's turn.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, LlmError> {
        let messages: Vec<TemplateMessage<'_>> = messages
            .iter()
            .map(|m| TemplateMessage {
                role: role_name(m.role),
                content: &m.content,
            })
            .collect();
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| LlmError::Template(e.to_string()))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
            })
            .map_err(|e| LlmError::Template(format!("cannot render: {e}")))
    }

    /// The text the template writes right after an assistant message's
    /// content (e.g. `<|im_end|>\n`): what ends a turn for this model.
    pub fn assistant_turn_suffix(&self) -> Result<String, LlmError> {
        const SENTINEL: &str = "\u{1F}tingwen-sentinel\u{1F}";
        let messages = [
            ChatMessage::new(ChatRole::User, "hi"),
            ChatMessage::new(ChatRole::Assistant, SENTINEL),
        ];
        let rendered = self.render(&messages, false)?;
        Ok(rendered
            .split_once(SENTINEL)
            .map(|(_, after)| after.to_string())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are helpful<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_chatml_with_default_system_and_generation_prompt() {
        let template = ChatTemplate::new(CHATML, "<|im_start|>", "<|im_end|>").unwrap();
        let text = template
            .render(&[ChatMessage::new(ChatRole::User, "你好")], true)
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(template.assistant_turn_suffix().unwrap(), "<|im_end|>\n");
    }

    #[test]
    fn python_methods_and_exceptions_work() {
        let source = "{% if messages[0]['role'] == 'assistant' %}{{ raise_exception('no') }}{% endif %}{{ bos_token }}{% for m in messages %}{{ m['content'].strip() }}|{% endfor %}";
        let template = ChatTemplate::new(source, "<s>", "</s>").unwrap();
        let ok = template
            .render(&[ChatMessage::new(ChatRole::User, "  x  ")], false)
            .unwrap();
        assert_eq!(ok, "<s>x|");
        let err = template
            .render(&[ChatMessage::new(ChatRole::Assistant, "x")], false)
            .unwrap_err();
        assert!(err.to_string().contains("no"), "{err}");
    }

    #[test]
    fn formats_dates() {
        // 2024-07-26 12:25:09 UTC
        assert_eq!(
            format_utc(1_722_000_000 - 3291, "%d %b %Y %H:%M"),
            "26 Jul 2024 12:25"
        );
        assert_eq!(format_utc(0, "%Y-%m-%d %%"), "1970-01-01 %");
    }
}
