//! The broker's bug switches by name (`truncate-to-high-watermark`, ...), for `--bug`.
//!
//! The names are the fields of [`Bugs`] in kebab case, so a switch added to `Bugs` is
//! reachable from the command line with no change here.

use crate::scenario::Bugs;

/// Every switch's name.
pub fn names() -> Vec<String> {
    let value = serde_json::to_value(Bugs::default()).expect("bugs serialise");
    let fields = value.as_object().expect("bugs are a struct");
    fields.keys().map(|name| name.replace('_', "-")).collect()
}

/// Turns on the switch `name` in `bugs`.
pub fn enable(bugs: &mut Bugs, name: &str) -> Result<(), String> {
    let field = name.replace('-', "_");
    let switch: Bugs =
        serde_json::from_value(serde_json::json!({ field: true })).map_err(|_| {
            format!(
                "unknown bug switch {name:?}: expected one of {}",
                names().join(", ")
            )
        })?;
    let mut merged = serde_json::to_value(*bugs).expect("bugs serialise");
    let switch = serde_json::to_value(switch).expect("bugs serialise");
    for (key, on) in switch.as_object().expect("a struct").iter() {
        if on.as_bool() == Some(true) {
            merged[key] = serde_json::Value::Bool(true);
        }
    }
    *bugs = serde_json::from_value(merged).expect("bugs deserialise");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_switch_is_reachable_by_name_and_others_are_refused() {
        let names = names();
        assert!(names.contains(&"truncate-to-high-watermark".to_string()));
        for name in &names {
            let mut bugs = Bugs::default();
            enable(&mut bugs, name).unwrap();
            assert!(bugs.any(), "{name}");
        }
        let mut bugs = Bugs::default();
        enable(&mut bugs, "elect-outside-isr").unwrap();
        enable(&mut bugs, "readmit-stale-broker").unwrap();
        assert!(bugs.elect_outside_isr && bugs.readmit_stale_broker);
        assert!(enable(&mut bugs, "no-such-bug").is_err());
    }
}
