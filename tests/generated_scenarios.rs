//! Generated scenarios (sim::campaign::generate), from seeds proptest chooses: each must
//! validate and round-trip through its TOML, since campaigns write them out as scenario files
//! and the shrinker rewrites them.

use proptest::prelude::*;
use sim::campaign::generate::generate;
use sim::scenario::Scenario;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_scenarios_validate_and_round_trip(seed in any::<u64>()) {
        let scenario = generate(seed);
        prop_assert!(scenario.validate().is_ok());
        let text = scenario.to_toml();
        let again = Scenario::parse(&text, "generated.toml");
        prop_assert_eq!(again, Ok(scenario));
    }
}
