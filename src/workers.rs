//! Buckets reconciled side by side: one thread per core takes the next bucket until
//! none is left or one has failed (extract/split.rs plans the buckets).

use anyhow::Result;

use crate::extract::Buckets;

/// Runs `work` for every bucket, `buckets.workers` at a time; results in bucket order,
/// or the first bucket's error.
pub fn in_buckets<T: Send>(
    buckets: &Buckets,
    work: impl Fn(u32) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    if buckets.workers <= 1 {
        return (0..buckets.count).map(&work).collect();
    }
    let next = AtomicU32::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<T>>>> =
        Mutex::new((0..buckets.count).map(|_| None).collect());
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..buckets.workers {
            std::thread::Builder::new()
                .name("tally-bucket".into())
                .stack_size(16 << 20)
                .spawn_scoped(scope, || {
                    while !failed.load(Ordering::Relaxed) {
                        let bucket = next.fetch_add(1, Ordering::Relaxed);
                        if bucket >= buckets.count {
                            break;
                        }
                        let result = work(bucket);
                        failed.fetch_or(result.is_err(), Ordering::Relaxed);
                        results.lock().expect("no worker panics holding it")[bucket as usize] =
                            Some(result);
                    }
                })?;
        }
        Ok(())
    })?;
    let mut out = Vec::with_capacity(buckets.count as usize);
    for result in results.into_inner().expect("workers are done") {
        match result {
            Some(r) => out.push(r?),
            // Not started because an earlier bucket failed; its error comes first.
            None => continue,
        }
    }
    Ok(out)
}
