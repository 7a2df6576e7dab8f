//! The real quality and hardware checks (phd-quality, phd-device) behind the pluggable traits.

use std::path::Path;

use phd_ingest::SensorTable;
use phd_quality::{QualityModel, ScoreOptions};

use crate::error::{BoxError, Result, UserError};
use crate::prepare::{HardwareCheck, QualityCheck, QualityOutcome, VerifiedDevice};

/// The trained activity/validity model of phd-quality.
#[derive(Debug)]
pub struct ModelQuality {
    model: QualityModel,
}

impl ModelQuality {
    /// Loads a model file (`crates/phd-quality/model/quality-model.bin` is shipped).
    pub fn load(path: &Path) -> Result<Self> {
        let model = QualityModel::load(path).map_err(|e| UserError::Quality {
            reason: format!("cannot load the quality model {}: {e}", path.display()),
        })?;
        Ok(ModelQuality { model })
    }

    /// The model shipped in the repository.
    pub fn shipped() -> Result<Self> {
        Self::load(&phd_quality::shipped_model_path())
    }
}

impl QualityCheck for ModelQuality {
    fn assess(
        &self,
        table: &SensorTable,
        keep_classes: &[String],
    ) -> std::result::Result<QualityOutcome, BoxError> {
        let opts = ScoreOptions {
            keep_classes: (!keep_classes.is_empty()).then(|| keep_classes.to_vec()),
            ..ScoreOptions::default()
        };
        let score = self.model.score(table, &opts)?;
        let filtered = QualityModel::filter(table, &score)?;
        Ok(QualityOutcome {
            table: filtered,
            summary: score.summary(),
        })
    }
}

/// The model as the streamer applies it, segment by segment, with the owner's keep choice
/// (phd-sdk's [`SegmentQuality`](phd_sdk::stream::SegmentQuality)). It remembers the recent
/// window levels of the stream ([`phd_quality::DriftTracker`]), so drift that builds up across
/// segment boundaries is seen; the streamer keeps that memory in its state file.
#[derive(Debug)]
pub struct SegmentModel {
    inner: ModelQuality,
    keep: Vec<String>,
    window: usize,
    drift: std::sync::Mutex<phd_quality::DriftTracker>,
}

impl SegmentModel {
    /// `keep`: activities to share (all when empty). Refuses a model whose windows overlap
    /// (segments are tiled by whole windows, each scored once).
    pub fn new(inner: ModelQuality, keep: Vec<String>) -> Result<Self> {
        let mut window = 0;
        for v in inner.model.variants() {
            if v.features.stride != v.features.window_len {
                return Err(UserError::Quality {
                    reason: format!(
                        "variant {} has overlapping windows (stride {} < length {}); the streamer needs non-overlapping ones",
                        v.name, v.features.stride, v.features.window_len
                    ),
                });
            }
            window = window.max(v.features.window_len);
        }
        if window == 0 {
            return Err(UserError::Quality {
                reason: "the quality model has no variant".into(),
            });
        }
        Ok(SegmentModel {
            inner,
            keep,
            window,
            drift: std::sync::Mutex::default(),
        })
    }
}

impl phd_sdk::stream::SegmentQuality for SegmentModel {
    fn window_rows(&self) -> usize {
        self.window
    }

    fn assess(
        &self,
        table: &SensorTable,
    ) -> std::result::Result<(SensorTable, phd_ingest::QualitySummary), String> {
        let opts = ScoreOptions {
            keep_classes: (!self.keep.is_empty()).then(|| self.keep.clone()),
            ..ScoreOptions::default()
        };
        let mut drift = self
            .drift
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let score = self
            .inner
            .model
            .score_stream(table, &opts, &mut drift)
            .map_err(|e| e.to_string())?;
        let kept = QualityModel::filter(table, &score).map_err(|e| e.to_string())?;
        Ok((kept, score.summary()))
    }

    fn carry(&self) -> Option<serde_json::Value> {
        let drift = self
            .drift
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        serde_json::to_value(&*drift).ok()
    }

    fn resume(&self, carry: Option<&serde_json::Value>) {
        // An unreadable or absent memory starts afresh: the trend check needs 12 windows again.
        let restored = carry
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        *self
            .drift
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = restored;
    }
}

/// Device certificate + recording signature check (`<FILE>.sig.json`, phd-device).
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceSignature;

impl HardwareCheck for DeviceSignature {
    fn verify(
        &self,
        data_path: &Path,
        sig_path: &Path,
    ) -> std::result::Result<VerifiedDevice, BoxError> {
        let sig = phd_device::RecordingSignature::load(sig_path)?;
        let v = phd_device::verify_recording_file(data_path, &sig)?;
        Ok(VerifiedDevice {
            manufacturer: format!("{:#x}", v.manufacturer),
            model: v.model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepare::{PrepareOptions, prepare};

    #[test]
    fn shipped_model_scores_basic_motions() {
        let Ok(q) = ModelQuality::shipped() else {
            return;
        };
        let p = phd_quality::default_data_dir().join("BasicMotions_TEST.ts");
        if !p.is_file() {
            return;
        }
        let opts = PrepareOptions {
            purposes: vec!["research".into()],
            consent_terms_hash: phd_ingest::DatasetMetadata::hash_terms("t"),
            pseudonym_key: vec![1u8; 32],
            keep_classes: vec!["walking".into(), "running".into()],
            ..PrepareOptions::default()
        };
        let prep = prepare(&p, &opts, Some(&q), None).unwrap();
        let quality = prep.metadata.quality.clone().unwrap();
        assert!((0.0..=1.0).contains(&quality.score), "{quality:?}");
        assert!(
            prep.rows_kept < prep.rows_read,
            "--keep walking,running drops the other activities"
        );
    }

    /// Streaming with segment cuts that straddle windows gives exactly the batch result: the
    /// same windows scored once each, the same rows kept, in order.
    #[test]
    fn segments_cut_across_windows_keep_exactly_what_the_whole_recording_keeps() {
        use phd_sdk::stream::{SegmentQuality as _, segment_plaintext, whole_windows_len};
        let p = phd_quality::default_data_dir().join("BasicMotions_TEST.ts");
        let t = phd_ingest::read_ts_path(&p, &phd_ingest::ReadOptions::default()).unwrap();
        // Every recording of the test split: four activities, so --keep drops some windows.
        let n = t.len() / 100 * 100;
        let header = "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z";
        let rows: Vec<String> = (0..n)
            .map(|i| {
                let ch: Vec<String> = t.channels.iter().map(|c| format!("{}", c[i])).collect();
                format!("{:.1},{}\n", i as f64 / 10.0, ch.join(","))
            })
            .collect();
        let keep = vec!["walking".to_owned(), "running".to_owned()];
        let model = SegmentModel::new(ModelQuality::shipped().unwrap(), keep.clone()).unwrap();
        let w = model.window_rows();
        assert_eq!(w, 100);
        let policy = phd_ingest::PseudonymisePolicy::default();
        let key = [7u8; 32];

        // Batch: the whole recording at once.
        let all: String = rows.concat();
        let (batch, batch_rows, batch_report) =
            segment_plaintext(header, all.as_bytes(), &policy, &key, Some(&model)).unwrap();
        let batch_report = batch_report.unwrap();
        assert!(batch_rows > 0 && batch_rows < n, "keep drops some windows");

        // Stream: 130-row reads, cut back to whole windows, the tail carried.
        let (mut at, mut streamed, mut windows) = (0, Vec::new(), 0);
        while at < n {
            let chunk: String = rows[at..(at + 130).min(n)].concat();
            let take = whole_windows_len(chunk.as_bytes(), w);
            let (plain, kept, report) = segment_plaintext(
                header,
                &chunk.as_bytes()[..take],
                &policy,
                &key,
                Some(&model),
            )
            .unwrap();
            let r = report.unwrap();
            windows += r.windows_kept + r.windows_dropped.values().sum::<u64>();
            if kept > 0 {
                let plain = String::from_utf8(plain).unwrap();
                streamed.extend(plain.lines().skip(1).map(str::to_owned));
            }
            at += chunk.as_bytes()[..take]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
        }
        assert_eq!(windows, (n / w) as u64, "every window scored exactly once");
        let batch: Vec<String> = String::from_utf8(batch)
            .unwrap()
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect();
        assert_eq!(streamed, batch);
        assert_eq!(
            windows,
            batch_report.windows_kept + batch_report.windows_dropped.values().sum::<u64>()
        );
    }

    /// Drift that builds up over many segments is dropped by the streamer's model, and a
    /// restart that resumes the saved memory (`carry` → `resume`) assesses every later segment
    /// exactly as the uninterrupted run does; without the memory the drift goes unseen.
    #[test]
    fn drift_across_segments_is_dropped_and_the_memory_survives_a_restart() {
        use phd_sdk::stream::{SegmentQuality as _, segment_plaintext};
        let p = phd_quality::default_data_dir().join("BasicMotions_TEST.ts");
        let t = phd_ingest::read_ts_path(&p, &phd_ingest::ReadOptions::default()).unwrap();
        let walking: Vec<usize> = (0..t.recording_count())
            .filter(|&r| t.labels[r].as_deref() == Some("Walking"))
            .collect();
        // 40 windows of walking with acc_x drifting 0.05 m/s² per second, 5 windows a segment
        let header = "time,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z";
        let segments: Vec<String> = (0..8)
            .map(|seg| {
                (0..500)
                    .map(|j| {
                        let k = seg * 5 + j / 100;
                        let row = walking[k % walking.len()] * 100 + j % 100;
                        let time = (seg * 500 + j) as f64 / 10.0;
                        let ch: Vec<String> = t
                            .channels
                            .iter()
                            .enumerate()
                            .map(|(c, x)| {
                                format!("{}", x[row] + if c == 0 { 0.05 * time } else { 0.0 })
                            })
                            .collect();
                        format!("{time:.1},{}\n", ch.join(","))
                    })
                    .collect()
            })
            .collect();
        let policy = phd_ingest::PseudonymisePolicy::default();
        let key = [7u8; 32];
        let run = |model: &SegmentModel, seg: &str| {
            let (plain, _, report) =
                segment_plaintext(header, seg.as_bytes(), &policy, &key, Some(model)).unwrap();
            let drift = report
                .unwrap()
                .windows_dropped
                .get("drift")
                .copied()
                .unwrap_or(0);
            (plain, drift)
        };
        let model = || SegmentModel::new(ModelQuality::shipped().unwrap(), Vec::new()).unwrap();
        let straight = model();
        let all: Vec<(Vec<u8>, u64)> = segments.iter().map(|s| run(&straight, s)).collect();
        let dropped: u64 = all.iter().map(|r| r.1).sum();
        assert!(dropped >= 10, "drift windows dropped: {dropped}");
        // killed after segment 3; the restart resumes from the saved memory
        let first = model();
        for s in &segments[..3] {
            run(&first, s);
        }
        let saved = first.carry();
        let restarted = model();
        restarted.resume(saved.as_ref());
        for (i, s) in segments.iter().enumerate().skip(3) {
            assert_eq!(run(&restarted, s), all[i], "segment {i}");
        }
        // a model that forgets between segments never sees 12 windows of trend
        let forgetful: u64 = segments.iter().map(|s| run(&model(), s).1).sum();
        assert_eq!(forgetful, 0);
    }
}
