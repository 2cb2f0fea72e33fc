//! Picking the next token from logits: repetition penalty, then greedy or
//! top-k / temperature / top-p sampling with a seeded generator.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tingwen_core::SamplingParams;

use crate::LlmError;

/// Token picker for one generation; deterministic for a given seed.
#[derive(Debug)]
pub struct Sampler {
    temperature: f64,
    top_p: f64,
    top_k: usize,
    repeat_penalty: f32,
    repeat_last_n: usize,
    rng: StdRng,
}

impl Sampler {
    /// Validates the parameters and seeds the generator.
    pub fn new(params: &SamplingParams) -> Result<Self, LlmError> {
        if !params.temperature.is_finite() || params.temperature < 0.0 {
            return Err(LlmError::InvalidRequest(format!(
                "temperature must be >= 0, got {}",
                params.temperature
            )));
        }
        if !(params.top_p > 0.0 && params.top_p <= 1.0) {
            return Err(LlmError::InvalidRequest(format!(
                "top_p must be in (0, 1], got {}",
                params.top_p
            )));
        }
        if !params.repeat_penalty.is_finite() || params.repeat_penalty <= 0.0 {
            return Err(LlmError::InvalidRequest(format!(
                "repeat_penalty must be > 0, got {}",
                params.repeat_penalty
            )));
        }
        Ok(Sampler {
            temperature: params.temperature,
            top_p: params.top_p,
            top_k: params.top_k,
            repeat_penalty: params.repeat_penalty,
            repeat_last_n: params.repeat_last_n,
            rng: StdRng::seed_from_u64(params.seed),
        })
    }

    /// Picks a token. `history` is the whole sequence so far (prompt and
    /// generated tokens); the penalty looks at its last `repeat_last_n`.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        if self.repeat_penalty != 1.0 && self.repeat_last_n > 0 {
            let start = history.len().saturating_sub(self.repeat_last_n);
            let mut seen = std::collections::HashSet::new();
            for &token in &history[start..] {
                // Penalise each distinct token once, as llama.cpp does.
                if seen.insert(token) {
                    if let Some(logit) = logits.get_mut(token as usize) {
                        *logit = if *logit >= 0.0 {
                            *logit / self.repeat_penalty
                        } else {
                            *logit * self.repeat_penalty
                        };
                    }
                }
            }
        }
        if self.temperature <= 0.0 {
            return argmax(logits);
        }
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, l)| (i as u32, *l))
            .collect();
        if candidates.is_empty() {
            return argmax(logits);
        }
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if self.top_k > 0 && self.top_k < candidates.len() {
            candidates.truncate(self.top_k);
        }
        let max = candidates[0].1;
        let inv_temperature = (1.0 / self.temperature) as f32;
        let mut probs: Vec<f32> = candidates
            .iter()
            .map(|(_, l)| ((l - max) * inv_temperature).exp())
            .collect();
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        if self.top_p < 1.0 {
            let mut cumulative = 0.0f32;
            let mut keep = probs.len();
            for (i, p) in probs.iter().enumerate() {
                cumulative += p;
                if cumulative >= self.top_p as f32 {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
        }
        let total: f32 = probs.iter().sum();
        let mut target = self.rng.random::<f32>() * total;
        for (i, p) in probs.iter().enumerate() {
            if target < *p {
                return candidates[i].0;
            }
            target -= p;
        }
        candidates[probs.len() - 1].0
    }
}

/// Index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, l) in logits.iter().enumerate() {
        if *l > logits[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f64) -> SamplingParams {
        SamplingParams {
            temperature,
            repeat_penalty: 1.0,
            ..SamplingParams::default()
        }
    }

    #[test]
    fn greedy_picks_the_maximum() {
        let mut sampler = Sampler::new(&params(0.0)).unwrap();
        assert_eq!(sampler.sample(&mut [0.1, 3.0, 2.0], &[]), 1);
    }

    #[test]
    fn repetition_penalty_demotes_seen_tokens() {
        let mut p = params(0.0);
        p.repeat_penalty = 2.0;
        let mut sampler = Sampler::new(&p).unwrap();
        assert_eq!(sampler.sample(&mut [0.1, 3.0, 2.0], &[1, 1]), 2);
    }

    #[test]
    fn seeded_sampling_is_deterministic_and_respects_top_k() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let run = |seed: u64| {
            let mut p = params(1.0);
            p.seed = seed;
            p.top_k = 5;
            let mut sampler = Sampler::new(&p).unwrap();
            (0..40)
                .map(|_| sampler.sample(&mut logits.clone(), &[]))
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        let mut allowed: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32, *l))
            .collect();
        allowed.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        let top5: Vec<u32> = allowed[..5].iter().map(|x| x.0).collect();
        assert!(
            a.iter().all(|t| top5.contains(t)),
            "{a:?} not within {top5:?}"
        );
    }

    #[test]
    fn tiny_top_p_is_greedy() {
        let mut p = params(1.0);
        p.top_p = 1e-6;
        let mut sampler = Sampler::new(&p).unwrap();
        for _ in 0..20 {
            assert_eq!(sampler.sample(&mut [0.0, 1.0, 0.5, 0.9], &[]), 1);
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Sampler::new(&params(-1.0)).is_err());
        let mut p = params(1.0);
        p.top_p = 0.0;
        assert!(Sampler::new(&p).is_err());
    }
}
