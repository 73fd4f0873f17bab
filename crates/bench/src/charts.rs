//! The pictures of a run: latency against offered load (scenarios 2 and 7) and the fan-out
//! ramp (scenario 3), each beside its reference, drawn as SVG next to the report.
//!
//! Scenarios keep their series here as they measure; [`draw`] draws what was kept.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plotters::coord::combinators::IntoLogRange;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::prelude::*;

/// Which picture a series belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    /// p99 latency (ms) against the offered rate (messages/s).
    Latency,
    /// Deliveries per second against the offered rate (events/s).
    FanOut,
}

impl Chart {
    fn file(self) -> &'static str {
        match self {
            Self::Latency => "latency.svg",
            Self::FanOut => "fanout.svg",
        }
    }

    fn caption(self) -> &'static str {
        match self {
            Self::Latency => "p99 latency against offered load",
            Self::FanOut => "Fan-out ramp: deliveries against offered events",
        }
    }

    fn axes(self) -> (&'static str, &'static str) {
        match self {
            Self::Latency => ("offered messages/s", "p99 (ms, log scale)"),
            Self::FanOut => ("offered events/s (1,000 sockets each)", "deliveries/s"),
        }
    }
}

/// One line of a picture.
#[derive(Debug, Clone)]
struct Series {
    chart: Chart,
    label: String,
    points: Vec<(f64, f64)>,
}

static KEPT: Mutex<Vec<Series>> = Mutex::new(Vec::new());

/// Keeps a line of `chart`: `points` are (x, y), in the units of [`Chart::axes`].
pub fn keep(chart: Chart, label: &str, points: Vec<(f64, f64)>) {
    let points: Vec<(f64, f64)> = points
        .into_iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite() && *y > 0.0)
        .collect();
    if points.is_empty() {
        return;
    }
    KEPT.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Series {
            chart,
            label: label.to_owned(),
            points,
        });
}

/// Draws every picture that has a series into `dir`; returns the files written.
///
/// # Errors
/// When a file cannot be written.
pub fn draw(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let kept = KEPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut written = Vec::new();
    for chart in [Chart::Latency, Chart::FanOut] {
        // A line kept twice under one label (a reference two scenarios share) is drawn once.
        let mut series: Vec<&Series> = Vec::new();
        for s in kept.iter().filter(|s| s.chart == chart) {
            if !series.iter().any(|drawn| drawn.label == s.label) {
                series.push(s);
            }
        }
        if series.is_empty() {
            continue;
        }
        let path = dir.join(chart.file());
        picture(&path, chart, &series).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

fn picture(
    path: &Path,
    chart: Chart,
    series: &[&Series],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let points = || series.iter().flat_map(|s| s.points.iter().copied());
    let x_max = points().map(|(x, _)| x).fold(1.0, f64::max) * 1.05;
    let y_max = points().map(|(_, y)| y).fold(1.0, f64::max) * 1.2;
    let y_min = points().map(|(_, y)| y).fold(f64::INFINITY, f64::min);
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(chart.caption(), ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(76);
    let axes = chart.axes();
    match chart {
        Chart::Latency => {
            let y = ((y_min * 0.5).max(0.1)..y_max).log_scale();
            let mut ctx = builder
                .build_cartesian_2d(0.0..x_max, y)
                .map_err(|e| e.to_string())?;
            lines(&mut ctx, axes, series)?;
        }
        Chart::FanOut => {
            let mut ctx = builder
                .build_cartesian_2d(0.0..x_max, 0.0..y_max)
                .map_err(|e| e.to_string())?;
            lines(&mut ctx, axes, series)?;
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// The mesh with its axes' names, each series as a line with its points, and the legend.
fn lines<'a, X, Y>(
    ctx: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    (x_desc, y_desc): (&str, &str),
    series: &[&Series],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    ctx.configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(|e| e.to_string())?;
    for (s, color) in series.iter().zip(colors.iter().cycle()) {
        let color = *color;
        ctx.draw_series(LineSeries::new(s.points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        ctx.draw_series(PointSeries::of_element(
            s.points.clone(),
            3,
            color.filled(),
            &|c, size, style| Circle::new(c, size, style),
        ))
        .map_err(|e| e.to_string())?;
    }
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pictures_are_svg_with_their_labels() {
        keep(
            Chart::Latency,
            "chat-server",
            vec![(100.0, 4.0), (1000.0, 9.0)],
        );
        keep(
            Chart::Latency,
            "the send's SQL alone",
            vec![(100.0, 2.0), (1000.0, 3.0)],
        );
        keep(
            Chart::FanOut,
            "chat-server",
            vec![(50.0, 50_000.0), (100.0, 99_000.0)],
        );
        let dir = std::env::temp_dir().join(format!("chat-bench-charts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = draw(&dir).unwrap();
        assert_eq!(written.len(), 2);
        let svg = std::fs::read_to_string(dir.join("latency.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("the send&apos;s SQL alone") || svg.contains("the send's SQL alone"));
        assert!(svg.contains("<polyline") || svg.contains("<path"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
