//! Errors for the world, never a panic: bundled scenarios with random values swapped in.
//!
//! Each case takes a bundled or a generated scenario, written out whole (every default spelled, so every field
//! is there to mutate), and changes a few of its values: edge numbers (0, -1, 2^32, i64::MAX),
//! odd strings ("", "0s", "1/0", a huge duration), the wrong type, a removed key, a duplicated
//! array entry. The text must then either be rejected with an error that names the file, or be
//! accepted and run a seed without a panic: a config that validation lets through is one the
//! simulation must handle. The swarm generator only writes valid scenarios; this test probes the
//! edge of validation itself.

use proptest::prelude::*;
use sim::campaign::generate::generate;
use sim::runner::run::{RunOptions, run};
use sim::scenario::Scenario;
use toml::Value;

mod support;

/// A run's event budget here: enough to cross startup and the first faults, small enough that a
/// mutated rate or duration cannot make a case slow.
const EVENTS_MAX: u64 = 60_000;

/// What a case mutates: a bundled scenario (by its index in the sorted library, modulo its
/// size) or a generated one (with network faults, a nemesis, groups: the fields the bundled
/// files leave at their defaults).
#[derive(Clone, Debug)]
enum Base {
    Bundled(usize),
    Generated(u64),
}

impl Base {
    /// The base's name for failure messages, and its scenario.
    fn load(&self) -> (String, Scenario) {
        match self {
            Base::Bundled(index) => {
                let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
                let mut names: Vec<String> = std::fs::read_dir(directory)
                    .expect("scenarios/ exists")
                    .map(|entry| {
                        entry
                            .expect("readable")
                            .file_name()
                            .to_string_lossy()
                            .into_owned()
                    })
                    .filter(|name| name.ends_with(".toml"))
                    .collect();
                names.sort();
                let name = names[index % names.len()].clone();
                let scenario = support::library(&name);
                (name, scenario)
            }
            Base::Generated(seed) => (format!("generated from {seed}"), generate(*seed)),
        }
    }
}

fn base() -> impl Strategy<Value = Base> {
    prop_oneof![
        any::<usize>().prop_map(Base::Bundled),
        any::<u64>().prop_map(Base::Generated),
    ]
}

/// One change to a scenario's TOML tree. Indexes pick among the tree's leaves (or arrays) by
/// position modulo their number, so every generated change applies to any scenario.
#[derive(Clone, Debug)]
enum Mutation {
    /// Puts the edge value of the leaf's own type there (most cases: those get past the parser
    /// to validation and the run), or the `other` value, usually of another type.
    Replace {
        leaf: usize,
        edge: EdgeValues,
        keep_type: bool,
    },
    Remove {
        leaf: usize,
    },
    DuplicateEntry {
        array: usize,
        entry: usize,
    },
}

/// One edge value of each TOML type, and one of any type.
#[derive(Clone, Debug)]
struct EdgeValues {
    integer: i64,
    string: String,
    float: f64,
    boolean: bool,
    other: Value,
}

impl EdgeValues {
    /// The value of `current`'s type.
    fn like(&self, current: &Value) -> Value {
        match current {
            Value::Integer(_) => Value::Integer(self.integer),
            Value::String(_) => Value::String(self.string.clone()),
            Value::Float(_) => Value::Float(self.float),
            Value::Boolean(_) => Value::Boolean(self.boolean),
            _ => self.other.clone(),
        }
    }
}

fn edge_integer() -> impl Strategy<Value = i64> {
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            -1,
            2,
            3,
            255,
            65_536,
            i64::from(u32::MAX),
            i64::from(u32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ]),
        any::<i64>(),
        0i64..100,
    ]
}

/// Durations (the scenario's own unit syntax), ratios, targets and plain odd strings.
fn edge_string() -> impl Strategy<Value = String> {
    let amounts = prop::sample::select(vec![
        "0".to_owned(),
        "1".to_owned(),
        "7".to_owned(),
        "1000".to_owned(),
        "1000000000".to_owned(),
        u64::MAX.to_string(),
        "-1".to_owned(),
        "1.5".to_owned(),
    ]);
    let units = prop::sample::select(vec!["ns", "us", "ms", "s", "m", "h", ""]);
    let durations = (amounts, units).prop_map(|(amount, unit)| format!("{amount}{unit}"));
    let words = prop::sample::select(vec![
        "",
        "1/0",
        "0/1",
        "1/1",
        "2/1",
        "1/3",
        "all",
        "random",
        "leader(orders/0)",
        "leader(nope/0)",
        "leader(orders/999)",
        "controller",
        "b0",
        "b1",
        "b99",
        "none",
    ])
    .prop_map(str::to_owned);
    prop_oneof![3 => durations, 3 => words, 1 => "[a-z0-9/()_-]{0,12}"]
}

fn edge_values() -> impl Strategy<Value = EdgeValues> {
    let float = prop::sample::select(vec![0.0f64, -1.0, 0.5, 1e300, f64::INFINITY]);
    let other = prop_oneof![
        edge_integer().prop_map(Value::Integer),
        edge_string().prop_map(Value::String),
        any::<bool>().prop_map(Value::Boolean),
        Just(Value::Array(Vec::new())),
    ];
    (edge_integer(), edge_string(), float, any::<bool>(), other).prop_map(
        |(integer, string, float, boolean, other)| EdgeValues {
            integer,
            string,
            float,
            boolean,
            other,
        },
    )
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        8 => (any::<usize>(), edge_values(), prop::bool::weighted(0.85))
            .prop_map(|(leaf, edge, keep_type)| Mutation::Replace { leaf, edge, keep_type }),
        1 => any::<usize>().prop_map(|leaf| Mutation::Remove { leaf }),
        1 => (any::<usize>(), any::<usize>())
            .prop_map(|(array, entry)| Mutation::DuplicateEntry { array, entry }),
    ]
}

/// A path to a value: table keys and array indexes.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn collect_paths(
    value: &Value,
    path: &mut Vec<Step>,
    leaves: &mut Vec<Vec<Step>>,
    arrays: &mut Vec<Vec<Step>>,
) {
    match value {
        Value::Table(table) => {
            for (key, child) in table {
                path.push(Step::Key(key.clone()));
                collect_paths(child, path, leaves, arrays);
                path.pop();
            }
        }
        Value::Array(entries) => {
            arrays.push(path.clone());
            leaves.push(path.clone());
            for (index, child) in entries.iter().enumerate() {
                path.push(Step::Index(index));
                collect_paths(child, path, leaves, arrays);
                path.pop();
            }
        }
        _ => leaves.push(path.clone()),
    }
}

fn value_at<'a>(root: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(root, |value, step| match step {
        Step::Key(key) => &mut value.as_table_mut().expect("table")[key.as_str()],
        Step::Index(index) => &mut value.as_array_mut().expect("array")[*index],
    })
}

fn describe(path: &[Step]) -> String {
    path.iter()
        .map(|step| match step {
            Step::Key(key) => format!(".{key}"),
            Step::Index(index) => format!("[{index}]"),
        })
        .collect()
}

/// Applies `mutation`; says what it did, like `replace .cluster.brokers with 0`.
fn apply(root: &mut Value, mutation: &Mutation) -> String {
    let (mut leaves, mut arrays) = (Vec::new(), Vec::new());
    collect_paths(root, &mut Vec::new(), &mut leaves, &mut arrays);
    match mutation {
        Mutation::Replace {
            leaf,
            edge,
            keep_type,
        } => {
            let path = &leaves[leaf % leaves.len()];
            let slot = value_at(root, path);
            let value = if *keep_type {
                edge.like(slot)
            } else {
                edge.other.clone()
            };
            *slot = value.clone();
            format!("replace {} with {value}", describe(path))
        }
        Mutation::Remove { leaf } => {
            let path = &leaves[leaf % leaves.len()];
            let (last, parent) = path.split_last().expect("a leaf below the root");
            match (value_at(root, parent), last) {
                (Value::Table(table), Step::Key(key)) => {
                    table.remove(key);
                }
                (Value::Array(entries), Step::Index(index)) => {
                    entries.remove(*index);
                }
                _ => unreachable!("paths follow the tree"),
            }
            format!("remove {}", describe(path))
        }
        Mutation::DuplicateEntry { array, entry } => {
            let Some(path) = arrays.get(array % arrays.len().max(1)) else {
                return "nothing (no array)".to_owned();
            };
            let entries = value_at(root, path).as_array_mut().expect("array");
            if entries.is_empty() {
                return format!("nothing ({} is empty)", describe(path));
            }
            let index = entry % entries.len();
            entries.push(entries[index].clone());
            format!("append a copy of {}[{index}]", describe(path))
        }
    }
}

/// 256 cases by default; `PROPTEST_CASES=N` for a longer search (20,000 take about 80 s in a
/// release build).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256)
}

/// Whether `field` (like `faults[2].target`) could be a field of `root`: no part of it that
/// the document has is a plain value with something below it (as `name.why` would be).
fn names_a_place_in(root: &Value, field: &str) -> bool {
    let mut steps = Vec::new();
    for part in field.split('.') {
        let mut pieces = part.split('[');
        steps.push(Step::Key(pieces.next().unwrap_or_default().to_owned()));
        for index in pieces {
            match index.trim_end_matches(']').parse() {
                Ok(index) => steps.push(Step::Index(index)),
                Err(_) => return false,
            }
        }
    }
    let mut value = root;
    for (position, step) in steps.iter().enumerate() {
        let next = match (step, value) {
            (Step::Key(key), Value::Table(table)) => table.get(key),
            (Step::Index(index), Value::Array(entries)) => entries.get(*index),
            _ => return false,
        };
        match next {
            Some(next) => value = next,
            // A key the document lacks (a missing field, or a table the mutation removed) may
            // be named; an entry past an array's end only as the last step.
            None => return matches!(step, Step::Key(_)) || position + 1 == steps.len(),
        }
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn a_mutated_scenario_is_rejected_with_its_file_named_or_runs_without_a_panic(
        base in base(),
        mutations in proptest::collection::vec(mutation(), 1..4),
        seed in any::<u64>(),
    ) {
        let (name, original) = base.load();
        let mut root: Value = toml::from_str(&original.to_toml()).expect("own output parses");
        let applied: Vec<String> = mutations.iter().map(|mutation| apply(&mut root, mutation)).collect();
        let Ok(text) = toml::to_string(&root) else {
            // A tree that TOML cannot write (some mixes of tables and values): nothing to test.
            return Ok(());
        };
        match Scenario::parse(&text, "mutated.toml") {
            Err(error) => {
                let shown = error.to_string();
                prop_assert!(shown.starts_with("mutated.toml"), "error without the file: {shown}");
                prop_assert!(!error.message.is_empty(), "empty error message: {shown}");
                if let Some(field) = &error.field {
                    prop_assert!(names_a_place_in(&root, field), "{shown}: no such place in {applied:?}");
                }
            }
            Ok(scenario) => {
                let reparsed = Scenario::parse(&scenario.to_toml(), "written.toml");
                match reparsed {
                    Ok(reparsed) => prop_assert_eq!(reparsed, scenario.clone()),
                    Err(error) => prop_assert!(false, "an accepted scenario does not read back: {error}"),
                }
                let options = RunOptions { events_max: Some(EVENTS_MAX), ..RunOptions::default() };
                let ran = std::panic::catch_unwind(|| run(&scenario, "mutated.toml", seed, options));
                prop_assert!(ran.is_ok(), "{name} with {applied:?} panicked at seed {seed}");
            }
        }
    }
}
