//! Progress bars shared by the CLIs: hidden for `--json`, in tests and when stderr is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress bars are drawn. Hidden for `--json` and when stderr is not a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Draw bars on stderr.
    Visible,
    /// Draw nothing (tests, `--json`, pipes).
    #[default]
    Hidden,
}

impl Progress {
    /// Visible only if `json` is false and stderr is a terminal.
    pub fn auto(json: bool) -> Progress {
        use std::io::IsTerminal;
        if !json && std::io::stderr().is_terminal() {
            Progress::Visible
        } else {
            Progress::Hidden
        }
    }

    /// A bar of `len` steps (or a spinner when `len` is `None`).
    pub fn bar(self, len: Option<u64>, msg: impl Into<String>) -> ProgressBar {
        let pb = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        if self == Progress::Hidden {
            pb.set_draw_target(ProgressDrawTarget::hidden());
        }
        let style = match len {
            Some(_) => {
                ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})")
            }
            None => ProgressStyle::with_template("{spinner} {msg} ({elapsed})"),
        };
        if let Ok(style) = style {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(msg.into());
        if self == Progress::Visible {
            pb.enable_steady_tick(Duration::from_millis(120));
        }
        pb
    }

    /// A byte-count bar.
    pub fn bytes(self, len: u64, msg: impl Into<String>) -> ProgressBar {
        let pb = ProgressBar::new(len);
        if self == Progress::Hidden {
            pb.set_draw_target(ProgressDrawTarget::hidden());
        }
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        pb.set_message(msg.into());
        pb
    }
}
