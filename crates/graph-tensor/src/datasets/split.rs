//! Train / validation / test split rules of the reference papers.

use serde::{Deserialize, Serialize};

use super::reference_rng::TorchGenerator;

/// How a dataset is divided into training, validation and test graphs. Recorded with every
/// dataset (in its recipe, or given with a graph file), so that a run can always say which
/// graphs it trained on. Serialised with a `"rule"` tag, e.g.
/// `{"rule": "test-first", "test_fraction": 0.2}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum SplitRule {
    /// EDP-GNN / GDSS: the first `int(test_fraction · n)` graphs are the test set, the rest
    /// the training set, no shuffling, no validation set
    /// (GDSS:utils/data_loader.py, GraphScoreMatching:utils/arg_helper.py `load_data`).
    TestFirst {
        /// Fraction of the graphs in the test set (0.2 in the papers).
        test_fraction: f64,
    },
    /// GRAN / GraphGDP: the first `int(train_fraction · n)` graphs train, the next
    /// `int(val_fraction · n)` validate, the rest test (GRAN:runner/gran_runner.py,
    /// GraphGDP:datasets.py). GRAN's "dev" and GraphGDP's "eval" sets are the *first* 20 % of
    /// the list, i.e. a subset of the training set; they are not held out and are not
    /// represented here (use `val_fraction: 0`). With `val_fraction > 0` this is also the rule
    /// for datasets generated as consecutive train / val / test blocks (the tree dataset).
    TrainFirst {
        /// Fraction of the graphs in the training set (0.8 in the papers).
        train_fraction: f64,
        /// Fraction in the validation set, taken right after the training graphs.
        #[serde(default)]
        val_fraction: f64,
    },
    /// SPECTRE / DiGress: `test_len = round(test_fraction · n)`,
    /// `train_len = round(train_fraction · (n − test_len))`, the rest validates; the indices
    /// come from `torch.randperm(n, generator=torch.Generator().manual_seed(seed))` (reproduced
    /// bit for bit): train = `perm[..train_len]`, val next, test last. SPECTRE (seed 1234,
    /// `torch.utils.data.random_split`) keeps each part in permutation order; DiGress (seed 0,
    /// src/datasets/spectre_dataset.py) keeps each part in dataset order (`sorted: true`).
    Random {
        /// Fraction of all graphs in the test set (0.2).
        test_fraction: f64,
        /// Fraction of the non-test graphs in the training set (0.8).
        train_fraction: f64,
        /// Seed of the torch generator (SPECTRE 1234, DiGress 0).
        seed: u64,
        /// Whether each part is listed in dataset order (DiGress) instead of permutation
        /// order (SPECTRE).
        #[serde(default)]
        sorted: bool,
    },
}

impl Default for SplitRule {
    /// The EDP-GNN / GDSS rule, first 20 % test.
    fn default() -> Self {
        SplitRule::TestFirst { test_fraction: 0.2 }
    }
}

/// Indices into a dataset's graph list, one list per part; every index appears exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Split {
    /// Training graphs.
    pub train: Vec<usize>,
    /// Validation graphs (empty for rules without a validation set).
    pub val: Vec<usize>,
    /// Test graphs.
    pub test: Vec<usize>,
}

/// `int(x)` of a non-negative float, as Python computes it.
fn py_int(x: f64) -> usize {
    x.trunc() as usize
}

/// `int(round(x))` of a non-negative float: Python rounds halves to even.
fn py_round(x: f64) -> usize {
    x.round_ties_even() as usize
}

impl SplitRule {
    /// The EDP-GNN / GDSS rule with the given test fraction.
    pub fn test_first(test_fraction: f64) -> Self {
        SplitRule::TestFirst { test_fraction }
    }

    /// Checks the fractions: each in [0, 1], and `train_fraction + val_fraction <= 1`.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |name: &str, x: f64| {
            if (0.0..=1.0).contains(&x) {
                Ok(())
            } else {
                Err(format!("split rule: {name} = {x} is not in [0, 1]"))
            }
        };
        match *self {
            SplitRule::TestFirst { test_fraction } => unit("test_fraction", test_fraction),
            SplitRule::TrainFirst {
                train_fraction,
                val_fraction,
            } => {
                unit("train_fraction", train_fraction)?;
                unit("val_fraction", val_fraction)?;
                if train_fraction + val_fraction > 1.0 + 1e-12 {
                    return Err(format!(
                        "split rule: train_fraction + val_fraction = {} exceeds 1",
                        train_fraction + val_fraction
                    ));
                }
                Ok(())
            }
            SplitRule::Random {
                test_fraction,
                train_fraction,
                ..
            } => {
                unit("test_fraction", test_fraction)?;
                unit("train_fraction", train_fraction)
            }
        }
    }

    /// Splits `n` graphs. Fractions outside [0, 1] are clamped (constructors validate them).
    pub fn split(&self, n: usize) -> Split {
        let nf = n as f64;
        let clamp = |x: f64| x.clamp(0.0, 1.0);
        match *self {
            SplitRule::TestFirst { test_fraction } => {
                let t = py_int(clamp(test_fraction) * nf).min(n);
                Split {
                    train: (t..n).collect(),
                    val: Vec::new(),
                    test: (0..t).collect(),
                }
            }
            SplitRule::TrainFirst {
                train_fraction,
                val_fraction,
            } => {
                let tr = py_int(clamp(train_fraction) * nf).min(n);
                let va = py_int(clamp(val_fraction) * nf).min(n - tr);
                Split {
                    train: (0..tr).collect(),
                    val: (tr..tr + va).collect(),
                    test: (tr + va..n).collect(),
                }
            }
            SplitRule::Random {
                test_fraction,
                train_fraction,
                seed,
                sorted,
            } => {
                let test_len = py_round(clamp(test_fraction) * nf).min(n);
                let train_len =
                    py_round(clamp(train_fraction) * (n - test_len) as f64).min(n - test_len);
                let val_len = n - train_len - test_len;
                let perm = TorchGenerator::manual_seed(seed).randperm(n);
                let mut split = Split {
                    train: perm[..train_len].to_vec(),
                    val: perm[train_len..train_len + val_len].to_vec(),
                    test: perm[train_len + val_len..].to_vec(),
                };
                if sorted {
                    split.train.sort_unstable();
                    split.val.sort_unstable();
                    split.test.sort_unstable();
                }
                split
            }
        }
    }

    /// A short human description, e.g. `test-first 20%` or `random (seed 0) 128/32/40`.
    pub fn describe(&self, n: usize) -> String {
        let s = self.split(n);
        let sizes = format!(
            "{}/{}/{} train/val/test",
            s.train.len(),
            s.val.len(),
            s.test.len()
        );
        match *self {
            SplitRule::TestFirst { test_fraction } => {
                format!("test-first {}% ({sizes})", test_fraction * 100.0)
            }
            SplitRule::TrainFirst { train_fraction, .. } => {
                format!("train-first {}% ({sizes})", train_fraction * 100.0)
            }
            SplitRule::Random { seed, sorted, .. } => format!(
                "random, torch seed {seed}{} ({sizes})",
                if sorted {
                    ", parts in dataset order"
                } else {
                    ""
                }
            ),
        }
    }
}

/// The short forms [`SplitRule`]'s `FromStr` accepts, for help texts.
pub const SPLIT_RULE_SYNTAX: &str = "gdss | test-first[:TEST] | gran | graphgdp | \
train-first[:TRAIN[:VAL]] | digress | spectre | random:SEED[:sorted] | a JSON object";

impl std::str::FromStr for SplitRule {
    type Err = String;

    /// Parses a short form or the JSON form:
    /// `gdss` = `test-first` = `test-first:0.2` (EDP-GNN / GDSS);
    /// `gran` = `graphgdp` = `train-first` = `train-first:0.8`, `train-first:0.64:0.16`;
    /// `digress` (torch seed 0, parts in dataset order), `spectre` (seed 1234, permutation
    /// order), `random:SEED` or `random:SEED:sorted` (test 20 %, train 80 % of the rest);
    /// or a JSON object such as `{"rule": "test-first", "test_fraction": 0.1}`.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let rule = if t.starts_with('{') {
            serde_json::from_str::<SplitRule>(t).map_err(|e| format!("split rule {t}: {e}"))?
        } else {
            let parts: Vec<&str> = t.split(':').collect();
            let num = |i: usize, default: f64| -> Result<f64, String> {
                parts.get(i).map_or(Ok(default), |x| {
                    x.parse::<f64>()
                        .map_err(|_| format!("split rule '{t}': '{x}' is not a number"))
                })
            };
            let arity = |max: usize| -> Result<(), String> {
                if parts.len() > max {
                    Err(format!("split rule '{t}': too many ':' fields"))
                } else {
                    Ok(())
                }
            };
            match parts[0].to_ascii_lowercase().as_str() {
                "gdss" | "edp-gnn" => {
                    arity(1)?;
                    SplitRule::TestFirst { test_fraction: 0.2 }
                }
                "test-first" => {
                    arity(2)?;
                    SplitRule::TestFirst {
                        test_fraction: num(1, 0.2)?,
                    }
                }
                "gran" | "graphgdp" => {
                    arity(1)?;
                    SplitRule::TrainFirst {
                        train_fraction: 0.8,
                        val_fraction: 0.0,
                    }
                }
                "train-first" => {
                    arity(3)?;
                    SplitRule::TrainFirst {
                        train_fraction: num(1, 0.8)?,
                        val_fraction: num(2, 0.0)?,
                    }
                }
                "digress" => {
                    arity(1)?;
                    SplitRule::Random {
                        test_fraction: 0.2,
                        train_fraction: 0.8,
                        seed: 0,
                        sorted: true,
                    }
                }
                "spectre" => {
                    arity(1)?;
                    SplitRule::Random {
                        test_fraction: 0.2,
                        train_fraction: 0.8,
                        seed: 1234,
                        sorted: false,
                    }
                }
                "random" => {
                    arity(3)?;
                    let seed = parts
                        .get(1)
                        .ok_or_else(|| format!("split rule '{t}': give a seed, e.g. random:0"))?
                        .parse::<u64>()
                        .map_err(|_| {
                            format!("split rule '{t}': the seed must be a non-negative integer")
                        })?;
                    let sorted = match parts.get(2) {
                        None => false,
                        Some(&"sorted") => true,
                        Some(x) => {
                            return Err(format!("split rule '{t}': expected 'sorted', found '{x}'"))
                        }
                    };
                    SplitRule::Random {
                        test_fraction: 0.2,
                        train_fraction: 0.8,
                        seed,
                        sorted,
                    }
                }
                other => {
                    return Err(format!(
                        "unknown split rule '{other}'; expected {SPLIT_RULE_SYNTAX}"
                    ))
                }
            }
        };
        rule.validate()?;
        Ok(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gdss_rule() {
        let s = SplitRule::test_first(0.2).split(587);
        assert_eq!(s.test.len(), 117);
        assert_eq!(s.train.len(), 470);
        assert_eq!(s.test[0], 0);
        assert_eq!(s.train[0], 117);
        assert!(s.val.is_empty());
    }

    #[test]
    fn graphgdp_rule() {
        let s = SplitRule::TrainFirst {
            train_fraction: 0.8,
            val_fraction: 0.0,
        }
        .split(100);
        assert_eq!(s.train, (0..80).collect::<Vec<_>>());
        assert_eq!(s.test, (80..100).collect::<Vec<_>>());
        let s = SplitRule::TrainFirst {
            train_fraction: 0.64,
            val_fraction: 0.16,
        }
        .split(200);
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (128, 32, 40));
        assert_eq!(s.val[0], 128);
    }

    #[test]
    fn spectre_and_digress_rules() {
        // torch 2.11: torch.randperm(200, generator=torch.Generator().manual_seed(1234)).
        let spectre = SplitRule::Random {
            test_fraction: 0.2,
            train_fraction: 0.8,
            seed: 1234,
            sorted: false,
        };
        let s = spectre.split(200);
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (128, 32, 40));
        assert_eq!(&s.train[..5], &[175, 122, 68, 174, 4]);
        let digress = SplitRule::Random {
            test_fraction: 0.2,
            train_fraction: 0.8,
            seed: 0,
            sorted: true,
        };
        let d = digress.split(200);
        assert!(d.train.windows(2).all(|w| w[0] < w[1]));
        // comm20 in SPECTRE: 100 graphs → 64 / 16 / 20.
        let c = spectre.split(100);
        assert_eq!((c.train.len(), c.val.len(), c.test.len()), (64, 16, 20));
    }

    #[test]
    fn short_forms() {
        let p = |s: &str| s.parse::<SplitRule>();
        assert_eq!(p("gdss").unwrap(), SplitRule::test_first(0.2));
        assert_eq!(p("test-first:0.1").unwrap(), SplitRule::test_first(0.1));
        assert_eq!(
            p("train-first:0.64:0.16").unwrap(),
            SplitRule::TrainFirst {
                train_fraction: 0.64,
                val_fraction: 0.16
            }
        );
        assert_eq!(
            p("digress").unwrap(),
            SplitRule::Random {
                test_fraction: 0.2,
                train_fraction: 0.8,
                seed: 0,
                sorted: true
            }
        );
        assert_eq!(
            p("random:7:sorted").unwrap(),
            SplitRule::Random {
                test_fraction: 0.2,
                train_fraction: 0.8,
                seed: 7,
                sorted: true
            }
        );
        assert_eq!(
            p(r#"{"rule": "test-first", "test_fraction": 0.5}"#).unwrap(),
            SplitRule::test_first(0.5)
        );
        for bad in [
            "",
            "shuffle",
            "test-first:x",
            "test-first:1.5",
            "random",
            "random:-1",
            "gdss:0.2",
            "random:1:up",
        ] {
            let e = p(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(p("nope").unwrap_err().contains("digress"));
    }

    #[test]
    fn serde_form() {
        let r: SplitRule =
            serde_json::from_str(r#"{"rule": "test-first", "test_fraction": 0.2}"#).unwrap();
        assert_eq!(r, SplitRule::test_first(0.2));
        let r: SplitRule =
            serde_json::from_str(r#"{"rule": "train-first", "train_fraction": 0.8}"#).unwrap();
        assert_eq!(
            r,
            SplitRule::TrainFirst {
                train_fraction: 0.8,
                val_fraction: 0.0
            }
        );
        assert!(serde_json::from_str::<SplitRule>(r#"{"rule": "shuffle"}"#).is_err());
        assert!(serde_json::from_str::<SplitRule>(
            r#"{"rule": "test-first", "test_fraction": 0.2, "seed": 1}"#
        )
        .is_err());
        assert!(SplitRule::test_first(1.5).validate().is_err());
        assert!(SplitRule::TrainFirst {
            train_fraction: 0.8,
            val_fraction: 0.3
        }
        .validate()
        .is_err());
    }

    fn arb_rule() -> impl Strategy<Value = SplitRule> {
        prop_oneof![
            (0.0f64..=1.0).prop_map(|t| SplitRule::TestFirst { test_fraction: t }),
            (0.0f64..=1.0, 0.0f64..=1.0).prop_map(|(a, b)| SplitRule::TrainFirst {
                train_fraction: a,
                val_fraction: b * (1.0 - a)
            }),
            (0.0f64..=1.0, 0.0f64..=1.0, any::<u64>(), any::<bool>()).prop_map(
                |(t, r, seed, sorted)| SplitRule::Random {
                    test_fraction: t,
                    train_fraction: r,
                    seed,
                    sorted
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn split_is_a_partition(rule in arb_rule(), n in 0usize..300) {
            let s = rule.split(n);
            let mut all: Vec<usize> =
                s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
    }
}
