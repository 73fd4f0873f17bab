//! Figures, goals and the report: a markdown table (printed and written to `report.md`) and
//! `report.json`, whose `goals` hold one `{"name", "value", "unit", "reference", "ratio",
//! "goal", "met"}` object per goal.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::machine::Machine;

/// What a figure must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The value is at most this.
    AtMost(f64),
    /// The value is at least this.
    AtLeast(f64),
    /// The value is at least this fraction of the reference.
    RatioAtLeast(f64),
    /// The value is at most this multiple of the reference.
    RatioAtMost(f64),
}

/// One measured figure, beside its reference.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The scenario's number (1 to 7, as in docs/benchmarks.md).
    pub scenario: u8,
    /// A stable machine name, `scenario.metric`.
    pub name: String,
    /// What was measured, for people.
    pub metric: String,
    /// The value (`None` when the scenario failed).
    pub value: Option<f64>,
    /// Its unit.
    pub unit: String,
    /// The reference measured in the same run (`None` when there is none or it failed).
    pub reference: Option<f64>,
    /// What the reference is.
    pub reference_of: String,
    /// The goal, when the figure has one.
    pub goal: Option<Goal>,
    /// A further condition of the goal (`nothing lost`), and whether it holds.
    pub condition: Option<(String, bool)>,
}

impl Figure {
    /// A figure without a goal (shown for information).
    pub fn info(scenario: u8, name: &str, metric: &str, value: f64, unit: &str) -> Self {
        Self {
            scenario,
            name: name.to_owned(),
            metric: metric.to_owned(),
            value: Some(value),
            unit: unit.to_owned(),
            reference: None,
            reference_of: String::new(),
            goal: None,
            condition: None,
        }
    }

    /// The same figure with a reference.
    #[must_use]
    pub fn against(mut self, reference: Option<f64>, of: &str) -> Self {
        self.reference = reference.filter(|r| r.is_finite());
        of.clone_into(&mut self.reference_of);
        self
    }

    /// The same figure with a goal.
    #[must_use]
    pub fn goal(mut self, goal: Goal) -> Self {
        self.goal = Some(goal);
        self
    }

    /// The same figure with a further condition of its goal.
    #[must_use]
    pub fn condition(mut self, what: &str, holds: bool) -> Self {
        self.condition = Some((what.to_owned(), holds));
        self
    }

    /// A goal whose scenario failed before measuring it.
    pub fn failed(
        scenario: u8,
        name: &str,
        metric: &str,
        unit: &str,
        goal: Goal,
        why: &str,
    ) -> Self {
        Self {
            scenario,
            name: name.to_owned(),
            metric: metric.to_owned(),
            value: None,
            unit: unit.to_owned(),
            reference: None,
            reference_of: String::new(),
            goal: Some(goal),
            condition: Some((format!("the scenario ran ({why})"), false)),
        }
    }

    /// `value / reference`.
    #[must_use]
    pub fn ratio(&self) -> Option<f64> {
        match (self.value, self.reference) {
            (Some(v), Some(r)) if r != 0.0 && v.is_finite() => Some(v / r),
            _ => None,
        }
    }

    /// Whether the goal is met (`None` without a goal).
    #[must_use]
    pub fn met(&self) -> Option<bool> {
        let goal = self.goal?;
        let reached = match (goal, self.value) {
            (_, None) => false,
            (Goal::AtMost(x), Some(v)) => v.is_finite() && v <= x,
            (Goal::AtLeast(x), Some(v)) => v.is_finite() && v >= x,
            (Goal::RatioAtLeast(x), Some(_)) => self.ratio().is_some_and(|r| r >= x),
            (Goal::RatioAtMost(x), Some(_)) => self.ratio().is_some_and(|r| r <= x),
        };
        Some(reached && self.condition.as_ref().map_or(true, |(_, holds)| *holds))
    }

    /// The goal in words.
    #[must_use]
    pub fn goal_text(&self) -> String {
        let Some(goal) = self.goal else {
            return String::new();
        };
        let mut text = match goal {
            Goal::AtMost(x) => format!("<= {} {}", number(x, &self.unit), self.unit),
            Goal::AtLeast(x) => format!(">= {} {}", number(x, &self.unit), self.unit),
            Goal::RatioAtLeast(x) => format!(">= {x} x reference"),
            Goal::RatioAtMost(x) => format!("<= {x} x reference"),
        };
        if let Some((what, _)) = &self.condition {
            let _ = write!(text, ", {what}");
        }
        text
    }
}

/// A number for people: thousands separated for large ones, two decimals for small ones.
#[must_use]
pub fn number(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    if v.abs() >= 1_000.0 || (unit.ends_with("/s") && v.abs() >= 100.0) {
        #[allow(clippy::cast_possible_truncation)]
        let n = v.round() as i64;
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 {
            out.insert(0, '-');
        }
        out
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn scenario_name(n: u8) -> &'static str {
    match n {
        1 => "Send throughput",
        2 => "End-to-end latency",
        3 => "Fan-out",
        4 => "Idle sockets",
        5 => "Queue at scale",
        6 => "Claim storm",
        7 => "Two instances",
        _ => "?",
    }
}

/// The whole run.
#[derive(Debug)]
pub struct Report {
    /// The machine it ran on.
    pub machine: Machine,
    /// When it started (UTC, RFC 3339).
    pub started: String,
    /// How long it took, in seconds.
    pub duration_secs: f64,
    /// Whether it was a `--quick` run.
    pub quick: bool,
    /// The 1-minute load average at the end (other work on the machine shows here).
    pub load_average_at_end: f64,
    /// Every figure, in scenario order.
    pub figures: Vec<Figure>,
    /// Scenarios that failed, with why.
    pub errors: Vec<(u8, String)>,
}

#[derive(Serialize)]
struct GoalJson<'a> {
    name: &'a str,
    value: Option<f64>,
    unit: &'a str,
    reference: Option<f64>,
    ratio: Option<f64>,
    goal: String,
    met: bool,
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
        .map(|v| (v * 1_000.0).round() / 1_000.0)
}

impl Report {
    /// The markdown table of every figure.
    #[must_use]
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| # | scenario | metric | value | reference | ratio | goal | met |\n");
        out.push_str("|---|---|---|---:|---|---:|---|---|\n");
        for f in &self.figures {
            let value = f.value.map_or_else(
                || "failed".to_owned(),
                |v| format!("{} {}", number(v, &f.unit), f.unit),
            );
            let reference = match f.reference {
                Some(r) => format!("{} {} ({})", number(r, &f.unit), f.unit, f.reference_of),
                None if f.reference_of.is_empty() => "-".to_owned(),
                None => format!("- ({})", f.reference_of),
            };
            let ratio = f
                .ratio()
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
            let met = match f.met() {
                Some(true) => "**yes**",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                f.scenario,
                scenario_name(f.scenario),
                f.metric,
                value,
                reference,
                ratio,
                f.goal_text(),
                met
            );
        }
        out
    }

    /// The markdown report: the run, the machine, the table, the failures.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("# chat-bench report\n\n");
        let _ = writeln!(
            out,
            "Run {} ({}), {:.0} s. Machine: {}; load average at the end {:.2}.\n",
            self.started,
            if self.quick { "--quick" } else { "full" },
            self.duration_secs,
            self.machine.describe(),
            self.load_average_at_end
        );
        out.push_str(
            "Ratio = value / reference; the reference is measured in the same run, on the same \
             machine (for latencies and memory, lower is better; for rates, higher).\n\n",
        );
        out.push_str(&self.table());
        let goals: Vec<&Figure> = self.figures.iter().filter(|f| f.goal.is_some()).collect();
        let met = goals.iter().filter(|f| f.met() == Some(true)).count();
        let _ = writeln!(out, "\nGoals met: {met} of {}.", goals.len());
        if !self.errors.is_empty() {
            out.push_str("\nFailures:\n\n");
            for (scenario, why) in &self.errors {
                let _ = writeln!(
                    out,
                    "- scenario {scenario} ({}): {why}",
                    scenario_name(*scenario)
                );
            }
        }
        out
    }

    /// The JSON report.
    #[must_use]
    pub fn json(&self) -> Value {
        let goals: Vec<GoalJson<'_>> = self
            .figures
            .iter()
            .filter(|f| f.goal.is_some())
            .map(|f| GoalJson {
                name: &f.name,
                value: finite(f.value),
                unit: &f.unit,
                reference: finite(f.reference),
                ratio: finite(f.ratio()),
                goal: f.goal_text(),
                met: f.met() == Some(true),
            })
            .collect();
        let figures: Vec<Value> = self
            .figures
            .iter()
            .map(|f| {
                json!({
                    "scenario": f.scenario,
                    "name": f.name,
                    "metric": f.metric,
                    "value": finite(f.value),
                    "unit": f.unit,
                    "reference": finite(f.reference),
                    "reference_of": f.reference_of,
                    "ratio": finite(f.ratio()),
                    "goal": f.goal.map(|_| f.goal_text()),
                    "met": f.met(),
                })
            })
            .collect();
        json!({
            "started": self.started,
            "duration_secs": (self.duration_secs * 10.0).round() / 10.0,
            "quick": self.quick,
            "machine": self.machine,
            "load_average_at_end": self.load_average_at_end,
            "goals": goals,
            "figures": figures,
            "errors": self.errors.iter().map(|(s, why)| json!({"scenario": s, "error": why})).collect::<Vec<_>>(),
        })
    }

    /// Writes `report.md` and `report.json` into `dir`.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(&self.json())? + "\n",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_compare_values_and_ratios() {
        let f = Figure::info(2, "latency.p99", "p99", 8.0, "ms")
            .against(Some(4.0), "pgbench")
            .goal(Goal::AtMost(10.0));
        assert_eq!(f.ratio(), Some(2.0));
        assert_eq!(f.met(), Some(true));
        assert_eq!(
            f.clone().condition("nothing lost", false).met(),
            Some(false)
        );
        let g = Figure::info(1, "send", "sends/s", 700.0, "sends/s")
            .against(Some(1_000.0), "pgbench")
            .goal(Goal::RatioAtLeast(0.8));
        assert_eq!(g.met(), Some(false));
        assert_eq!(Figure::info(1, "x", "x", 1.0, "ms").met(), None);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(1_234_567.4, "deliveries/s"), "1,234,567");
        assert_eq!(number(1.234_5, "ms"), "1.23");
        assert_eq!(number(250.0, "sends/s"), "250");
    }
}
