//! Which targets a command works on (`--target`, `--all`, `--shard I/N`) and how many
//! devices it talks to at once.
use anyhow::{Context, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::config::{Config, Target};

/// Run futures on a small runtime, at most `jobs` at a time; results in input order.
pub fn run_bounded<T, F>(jobs: usize, futs: Vec<F>) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
        let mut handles = Vec::new();
        for f in futs {
            let sem = sem.clone();
            handles.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                f.await
            }));
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.map_err(|e| anyhow!("a worker task failed: {e}"))?);
        }
        Ok(out)
    })
}

/// Pick targets: `names` (in the given order), or all with `all`; then the `--shard` share.
pub fn select_targets<'c>(
    cfg: &'c Config,
    names: &[String],
    all: bool,
    shard: Option<Shard>,
) -> anyhow::Result<Vec<&'c Target>> {
    let mut out: Vec<&Target> = if all {
        cfg.targets.iter().collect()
    } else if names.is_empty() {
        match cfg.targets.as_slice() {
            [one] => vec![one],
            [] => bail!("no targets are configured"),
            _ => bail!("several targets are configured: name one with --target, or use --all"),
        }
    } else {
        names
            .iter()
            .map(|n| {
                cfg.target(n)
                    .ok_or_else(|| anyhow!("no target named `{n}` in the configuration"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    if let Some(s) = shard {
        out.retain(|t| s.contains(&t.name));
    }
    Ok(out)
}

/// `--shard I/N`: the I-th of N deterministic shares of the targets (by a hash of the name,
/// so adding a target does not move the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn contains(&self, name: &str) -> bool {
        let d = Sha256::digest(name.as_bytes());
        let h = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        h % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not I/N like 1/4"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: bad shard index"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: bad shard count"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("`{s}`: need 1 <= I <= N"));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_targets() {
        let names: Vec<String> = (0..50).map(|i| format!("fw{i}")).collect();
        let shards: Vec<Shard> = (1..=3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for n in &names {
            assert_eq!(shards.iter().filter(|s| s.contains(n)).count(), 1);
        }
        assert!(shards.iter().all(|s| names.iter().any(|n| s.contains(n))));
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
    }
}
