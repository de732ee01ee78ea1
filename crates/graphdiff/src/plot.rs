//! Pictures as SVG, with no font or graphics library: a seeded force-directed layout of a
//! graph ([`spring_layout`]), a grid of graph drawings ([`graph_grid`]) and training curves
//! ([`curves`]). Text is left to the viewer's fonts (`font-family="sans-serif"`).

use std::fmt::Write as _;

use graph_tensor::Graph;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Strength of the pull towards the centroid in [`spring_layout`].
const GRAVITY: f64 = 2.0;

/// Node positions in `[−1, 1]²` by the Fruchterman–Reingold force-directed algorithm (the
/// scheme of networkx's `spring_layout`: optimal distance `k = 1/√n`, repulsion `k²/d`,
/// attraction `d²/k`, a temperature falling linearly from 0.1 to 0 over `iterations`), plus a
/// weak pull of every node towards the centroid (`GRAVITY · k · d`) so that the components of
/// a disconnected graph stay near each other instead of drifting to the corners; from uniform
/// random starting positions drawn from `seed`: the same graph and seed give the same
/// picture.
pub fn spring_layout(g: &Graph, seed: u64, iterations: usize) -> Vec<(f64, f64)> {
    let n = g.n();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pos: Vec<(f64, f64)> = (0..n).map(|_| (rng.gen(), rng.gen())).collect();
    if n <= 1 {
        return vec![(0.0, 0.0); n];
    }
    let k = 1.0 / (n as f64).sqrt();
    for it in 0..iterations {
        let temp = 0.1 * (1.0 - it as f64 / iterations as f64);
        let mut disp = vec![(0.0f64, 0.0f64); n];
        for u in 0..n {
            for v in u + 1..n {
                let (dx, dy) = (pos[u].0 - pos[v].0, pos[u].1 - pos[v].1);
                let d = (dx * dx + dy * dy).sqrt().max(1e-4);
                let f = k * k / d;
                disp[u].0 += dx / d * f;
                disp[u].1 += dy / d * f;
                disp[v].0 -= dx / d * f;
                disp[v].1 -= dy / d * f;
            }
        }
        let c = pos.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
        let c = (c.0 / n as f64, c.1 / n as f64);
        for (p, d) in pos.iter().zip(disp.iter_mut()) {
            d.0 -= GRAVITY * k * (p.0 - c.0);
            d.1 -= GRAVITY * k * (p.1 - c.1);
        }
        for &(u, v) in g.edges() {
            let (dx, dy) = (pos[u].0 - pos[v].0, pos[u].1 - pos[v].1);
            let d = (dx * dx + dy * dy).sqrt().max(1e-4);
            let f = d * d / k;
            disp[u].0 -= dx / d * f;
            disp[u].1 -= dy / d * f;
            disp[v].0 += dx / d * f;
            disp[v].1 += dy / d * f;
        }
        for (p, d) in pos.iter_mut().zip(&disp) {
            let len = (d.0 * d.0 + d.1 * d.1).sqrt().max(1e-9);
            let step = len.min(temp);
            p.0 += d.0 / len * step;
            p.1 += d.1 / len * step;
        }
    }
    // centre and scale into [−1, 1]²
    let (mut lo, mut hi) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
    for p in &pos {
        lo = (lo.0.min(p.0), lo.1.min(p.1));
        hi = (hi.0.max(p.0), hi.1.max(p.1));
    }
    let c = ((lo.0 + hi.0) / 2.0, (lo.1 + hi.1) / 2.0);
    let r = ((hi.0 - lo.0).max(hi.1 - lo.1) / 2.0).max(1e-9);
    pos.iter()
        .map(|p| ((p.0 - c.0) / r, (p.1 - c.1) / r))
        .collect()
}

/// An SVG document under construction.
struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    fn new(width: f64, height: f64) -> Self {
        let mut s = Self {
            width,
            height,
            body: String::new(),
        };
        s.rect(0.0, 0.0, width, height, "#ffffff", None);
        s
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: Option<&str>) {
        let stroke = stroke.map_or(String::new(), |c| format!(r#" stroke="{c}""#));
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"{stroke}/>"#
        );
    }

    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: &str, width: f64) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="{color}" stroke-width="{width}"/>"#,
            a.0, a.1, b.0, b.1
        );
    }

    fn circle(&mut self, c: (f64, f64), r: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{:.2}" cy="{:.2}" r="{r:.2}" fill="{fill}"/>"#,
            c.0, c.1
        );
    }

    fn polyline(&mut self, points: &[(f64, f64)], color: &str, width: f64) {
        let pts: Vec<String> = points
            .iter()
            .map(|p| format!("{:.2},{:.2}", p.0, p.1))
            .collect();
        let _ = writeln!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="{width}"/>"#,
            pts.join(" ")
        );
    }

    fn text(&mut self, at: (f64, f64), size: f64, anchor: &str, color: &str, text: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{:.1}" y="{:.1}" font-family="sans-serif" font-size="{size}" text-anchor="{anchor}" fill="{color}">{}</text>"#,
            at.0,
            at.1,
            escape(text)
        );
    }

    fn finish(self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
             width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n{}</svg>\n",
            self.body,
            w = self.width,
            h = self.height
        )
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One titled block of graphs in a grid.
pub struct Panel<'a> {
    /// Title above the block.
    pub title: String,
    /// The graphs, drawn row by row.
    pub graphs: &'a [Graph],
    /// Node colour.
    pub color: &'static str,
}

/// Blocks of graph drawings side by side, each a grid of `cols` columns of cells of `cell`
/// pixels; graph `i` of a block is laid out with seed `seed + i`. Under each drawing: its
/// node and edge counts.
pub fn graph_grid(panels: &[Panel<'_>], cols: usize, cell: f64, seed: u64) -> String {
    let cols = cols.max(1);
    let rows = panels
        .iter()
        .map(|p| p.graphs.len().div_ceil(cols))
        .max()
        .unwrap_or(0)
        .max(1);
    let (title_h, label_h, gap) = (28.0, 14.0, 24.0);
    let block_w = cols as f64 * cell;
    let width = panels.len().max(1) as f64 * (block_w + gap) + gap;
    let height = title_h + rows as f64 * (cell + label_h) + gap;
    let mut svg = Svg::new(width, height);
    for (k, panel) in panels.iter().enumerate() {
        let x0 = gap + k as f64 * (block_w + gap);
        svg.text(
            (x0 + block_w / 2.0, 20.0),
            16.0,
            "middle",
            "#222222",
            &panel.title,
        );
        for (i, g) in panel.graphs.iter().enumerate() {
            let (r, c) = (i / cols, i % cols);
            let cx = x0 + c as f64 * cell + cell / 2.0;
            let cy = title_h + r as f64 * (cell + label_h) + cell / 2.0;
            svg.rect(
                cx - cell / 2.0 + 2.0,
                cy - cell / 2.0 + 2.0,
                cell - 4.0,
                cell - 4.0,
                "#fafafa",
                Some("#e0e0e0"),
            );
            let pos = spring_layout(g, seed.wrapping_add(i as u64), 100);
            let half = cell / 2.0 - 10.0;
            let at = |p: (f64, f64)| (cx + p.0 * half, cy + p.1 * half);
            for &(u, v) in g.edges() {
                svg.line(at(pos[u]), at(pos[v]), "#888888", 1.0);
            }
            let radius = (cell / (4.0 * (g.n().max(4) as f64).sqrt())).clamp(1.5, 5.0);
            for p in &pos {
                svg.circle(at(*p), radius, panel.color);
            }
            svg.text(
                (cx, cy + cell / 2.0 + 10.0),
                10.0,
                "middle",
                "#555555",
                &format!("{} nodes, {} edges", g.n(), g.num_edges()),
            );
        }
    }
    svg.finish()
}

/// A training-curve series: its name, colour and `(step, value)` points.
pub struct Series<'a> {
    /// Legend name and axis title.
    pub name: &'a str,
    /// Line colour.
    pub color: &'static str,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
    /// Logarithmic y axis (the points must be positive).
    pub log: bool,
}

/// Stacked line charts sharing the x axis (one panel per series), titled `title`.
pub fn curves(title: &str, x_name: &str, series: &[Series<'_>]) -> String {
    let (w, panel_h, left, right, top, gap) = (720.0, 220.0, 80.0, 24.0, 40.0, 50.0);
    let height = top + series.len() as f64 * (panel_h + gap) + 10.0;
    let mut svg = Svg::new(w, height);
    svg.text((w / 2.0, 24.0), 16.0, "middle", "#222222", title);
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let (x_lo, x_hi) = bounds(&xs);
    for (k, s) in series.iter().enumerate() {
        let y0 = top + k as f64 * (panel_h + gap);
        let plot_w = w - left - right;
        svg.rect(left, y0, plot_w, panel_h, "#ffffff", Some("#bbbbbb"));
        let tf = |v: f64| {
            if s.log {
                v.max(f64::MIN_POSITIVE).log10()
            } else {
                v
            }
        };
        let ys: Vec<f64> = s
            .points
            .iter()
            .map(|p| tf(p.1))
            .filter(|v| v.is_finite())
            .collect();
        if ys.is_empty() {
            svg.text(
                (left + plot_w / 2.0, y0 + panel_h / 2.0),
                12.0,
                "middle",
                "#555555",
                "no data",
            );
            continue;
        }
        let (y_lo, y_hi) = bounds(&ys);
        let px = |x: f64| left + (x - x_lo) / (x_hi - x_lo) * plot_w;
        let py = |y: f64| y0 + panel_h - (y - y_lo) / (y_hi - y_lo) * panel_h;
        // axis ticks: 5 on each axis
        for t in 0..=4 {
            let f = t as f64 / 4.0;
            let yv = y_lo + f * (y_hi - y_lo);
            let label = tick_label(if s.log { 10f64.powf(yv) } else { yv });
            svg.line((left - 4.0, py(yv)), (left, py(yv)), "#555555", 1.0);
            svg.text((left - 6.0, py(yv) + 4.0), 10.0, "end", "#555555", &label);
            let xv = x_lo + f * (x_hi - x_lo);
            svg.line(
                (px(xv), y0 + panel_h),
                (px(xv), y0 + panel_h + 4.0),
                "#555555",
                1.0,
            );
            svg.text(
                (px(xv), y0 + panel_h + 16.0),
                10.0,
                "middle",
                "#555555",
                &format!("{xv:.0}"),
            );
        }
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| tf(p.1).is_finite())
            .map(|p| (px(p.0), py(tf(p.1))))
            .collect();
        svg.polyline(&pts, s.color, 1.5);
        let name = if s.log {
            format!("{} (log scale)", s.name)
        } else {
            s.name.to_string()
        };
        svg.text((left + 8.0, y0 + 16.0), 12.0, "start", s.color, &name);
        svg.text(
            (left + plot_w, y0 + panel_h + 32.0),
            11.0,
            "end",
            "#555555",
            x_name,
        );
    }
    svg.finish()
}

/// A tick value with about three significant digits.
fn tick_label(v: f64) -> String {
    if v != 0.0 && !(1e-2..1e4).contains(&v.abs()) {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

/// `(min, max)` of finite values, widened when they coincide.
fn bounds(v: &[f64]) -> (f64, f64) {
    let lo = v
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::MAX, f64::min);
    let hi = v
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::MIN, f64::max);
    if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-12 * lo.abs().max(1.0) {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle(n: usize) -> Graph {
        Graph::new(n, (0..n).map(|i| (i.min((i + 1) % n), i.max((i + 1) % n)))).unwrap()
    }

    #[test]
    fn layout_is_seeded_bounded_and_separates_nodes() {
        let g = cycle(12);
        let a = spring_layout(&g, 3, 100);
        assert_eq!(a, spring_layout(&g, 3, 100));
        assert_ne!(a, spring_layout(&g, 4, 100));
        assert!(a
            .iter()
            .all(|p| p.0.abs() <= 1.0 + 1e-9 && p.1.abs() <= 1.0 + 1e-9));
        // neighbours end closer than the average pair: the layout reflects the graph
        let d = |u: usize, v: usize| ((a[u].0 - a[v].0).powi(2) + (a[u].1 - a[v].1).powi(2)).sqrt();
        let edge: f64 = g.edges().iter().map(|&(u, v)| d(u, v)).sum::<f64>() / 12.0;
        let all: f64 = (0..12)
            .flat_map(|u| (u + 1..12).map(move |v| (u, v)))
            .map(|(u, v)| d(u, v))
            .sum::<f64>()
            / 66.0;
        assert!(edge < 0.7 * all, "edge {edge} vs all {all}");
        assert_eq!(spring_layout(&Graph::empty(1), 0, 10), vec![(0.0, 0.0)]);
        assert!(spring_layout(&Graph::empty(0), 0, 10).is_empty());
    }

    #[test]
    fn svg_documents_are_well_formed_and_complete() {
        let gs = vec![cycle(5), cycle(7), Graph::empty(0)];
        let svg = graph_grid(
            &[Panel {
                title: "generated <x>".into(),
                graphs: &gs,
                color: "#1f77b4",
            }],
            2,
            100.0,
            0,
        );
        assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 12);
        assert_eq!(svg.matches("<line").count(), 12);
        assert!(svg.contains("generated &lt;x&gt;"));
        let c = curves(
            "run",
            "step",
            &[Series {
                name: "loss",
                color: "#d62728",
                points: vec![(1.0, 0.5), (2.0, 0.25)],
                log: true,
            }],
        );
        assert_eq!(c.matches("<polyline").count(), 1);
        assert!(c.contains("loss (log scale)"));
    }
}
