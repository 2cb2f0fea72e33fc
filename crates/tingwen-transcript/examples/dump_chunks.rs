//! Prints the chunks of a transcript file (with a simple stand-in token
//! counter), for eyeballing segmentation and chunking.
//!
//! `cargo run -p tingwen-transcript --example dump_chunks -- data/000_….txt`

fn stand_in_tokens(text: &str) -> usize {
    let mut tokens = 2;
    let mut word = 0usize;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word += 1;
            continue;
        }
        tokens += word.div_ceil(4);
        word = 0;
        if !c.is_whitespace() {
            tokens += 1;
        }
    }
    tokens + word.div_ceil(4)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: dump_chunks FILE")?;
    let bytes = std::fs::read(&path)?;
    let name = std::path::Path::new(&path)
        .file_name()
        .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
    let options = tingwen_transcript::ChunkOptions::default();
    let t = tingwen_transcript::load(&name, &bytes, &options, &stand_in_tokens)?;
    println!("{:?} {:?}", t.document.format, t.document.meta);
    for w in &t.warnings {
        println!("warning: {w}");
    }
    for c in &t.chunks {
        println!(
            "--- #{} [{}..{}] tokens={} section={:?} speakers={:?} time={:?} sentences={}",
            c.ordinal,
            c.span.start,
            c.span.end,
            stand_in_tokens(&c.embed_text),
            c.section,
            c.speakers,
            c.time,
            c.sentences.len()
        );
        println!("{}", c.embed_text);
    }
    Ok(())
}
