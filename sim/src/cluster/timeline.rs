//! The cluster's timeline: the state changes a broker engineer reads first when a run fails.
//!
//! Controller elections, partition leaders and ISRs as the controller proposes them, replicas
//! taking leadership, truncations with the offsets they cut, ISR requests, fenced brokers, disk
//! faults and group rebalances go into the run's log (`log.txt` of an artifact, or stderr with
//! `RUST_LOG=timeline=info`) at info level, stamped with the simulated time and the node that
//! observed them. Brokers are named as the scenario and the rest of the log name them (`b5`),
//! never by index.
//!
//! Only rare observations are lines. The frequent ones (high watermark advances, fenced and
//! duplicate requests, client reports) are counted, not logged: the log stays readable, and a
//! campaign, whose log is off, checks one flag per batch of observations.

use broker::Observation;
use broker::node::{ResignReason, TruncationCause};

/// The `tracing` target of timeline lines.
pub const TARGET: &str = "timeline";

/// The timeline's line for `observation`, with brokers named by `name`; `None` for the
/// observations that are only counted. (Admin replies are the admin client's, in the report.)
pub fn describe(observation: &Observation, name: impl Fn(u32) -> String) -> Option<String> {
    let names = |brokers: &[u32]| {
        let named: Vec<String> = brokers.iter().map(|&broker| name(broker)).collect();
        format!("[{}]", named.join(", "))
    };
    Some(match observation {
        Observation::ElectionStarted { term } => {
            format!("controller: election of term {term} started")
        }
        Observation::ControllerElected { term } => {
            format!("controller: elected quorum leader of term {term}")
        }
        Observation::ControllerActivated { term } => {
            format!("controller: active controller in term {term}")
        }
        Observation::ControllerResigned { term, reason } => {
            let why = match reason {
                ResignReason::HigherTerm => "it saw a higher term",
                ResignReason::CheckQuorum => "it heard no majority for an election timeout",
            };
            format!("controller: resigned the leadership of term {term}: {why}")
        }
        Observation::BrokerRegistered {
            broker,
            broker_epoch,
        } => format!(
            "controller: proposes registering {} in broker epoch {broker_epoch}",
            name(*broker)
        ),
        Observation::BrokerFenced {
            broker,
            broker_epoch,
        } => format!(
            "controller: proposes fencing {} (broker epoch {broker_epoch}): its session expired",
            name(*broker)
        ),
        Observation::PartitionLeaderElected {
            topic,
            partition,
            leader,
            leader_epoch,
        } => {
            let leader = leader.map_or_else(|| "no leader".to_string(), &name);
            format!(
                "controller: proposes {leader} to lead {topic}/{partition} in leader epoch {leader_epoch}"
            )
        }
        Observation::IsrChanged {
            topic,
            partition,
            isr,
        } => format!(
            "controller: proposes ISR {} for {topic}/{partition}",
            names(isr)
        ),
        Observation::MetadataLogFull => {
            "controller: the metadata log is full; an append was refused".to_string()
        }
        Observation::DiskFault => {
            "disk: a write or sync failed; the node rewrites its whole state".to_string()
        }
        Observation::ReplicaBecameLeader {
            topic,
            partition,
            leader_epoch,
        } => format!("{topic}/{partition}: leads in leader epoch {leader_epoch}"),
        Observation::Truncated {
            topic,
            partition,
            from_offset,
            to_offset,
            cause,
        } => {
            let why = match cause {
                TruncationCause::HighWatermark => {
                    "truncated to its high watermark (bug switch truncate_to_high_watermark)"
                }
                TruncationCause::Divergence => "truncated to the divergence point with its leader",
                TruncationCause::OutOfRange => "its fetch offset was out of range at its leader",
            };
            format!("{topic}/{partition}: log end offset {from_offset} -> {to_offset}, {why}")
        }
        Observation::IsrShrinkRequested {
            topic,
            partition,
            isr,
        } => format!(
            "{topic}/{partition}: asks the controller to shrink the ISR to {}",
            names(isr)
        ),
        Observation::IsrExpandRequested {
            topic,
            partition,
            isr,
        } => format!(
            "{topic}/{partition}: asks the controller to expand the ISR to {}",
            names(isr)
        ),
        Observation::GroupRebalanced {
            group,
            generation,
            members,
        } => format!("group {group}: generation {generation} with {members} member(s)"),
        Observation::CommitFenced { group, generation } => {
            format!("group {group}: refused an offset commit from generation {generation}")
        }
        Observation::CoordinatorStarted { partition } => {
            format!("groups: coordinates the groups of offsets partition {partition}")
        }
        Observation::TransactionCoordinatorStarted { partition } => {
            format!("transactions: coordinates transaction state partition {partition}")
        }
        Observation::ProducerEpochGranted {
            producer_id,
            producer_epoch,
            aborted_open,
        } => {
            let aborted = if *aborted_open {
                ", aborting the open transaction under it"
            } else {
                ""
            };
            format!(
                "transactions: producer {producer_id} epoch {producer_epoch}: granted to a \
                 starting instance, fencing older epochs{aborted}"
            )
        }
        Observation::TransactionTimedOut {
            producer_id,
            producer_epoch,
        } => format!(
            "transactions: producer {producer_id} epoch {producer_epoch}: bumped to abort the \
             transaction open past its timeout"
        ),
        Observation::TransactionEnded {
            producer_id,
            producer_epoch,
            outcome,
            next_producer_id,
            next_producer_epoch,
        } => describe_end(
            (*producer_id, *producer_epoch),
            *outcome,
            (*next_producer_id, *next_producer_epoch),
        ),
        Observation::TransactionCompleted {
            producer_id,
            producer_epoch,
            outcome,
        } => format!(
            // Not "producer P epoch E:", which only the lines of how an epoch began say, so that
            // a story about an epoch shows how it began, not its every transaction.
            "transactions: producer {producer_id}: {outcome:?} complete (markers in epoch \
             {producer_epoch})"
        ),
        Observation::HighWatermarkAdvanced
        | Observation::FencedRequest
        | Observation::DuplicateRequestDropped
        | Observation::ProduceDeduplicated
        | Observation::Perturbed(_)
        | Observation::AdminReply(_)
        | Observation::Client(_) => return None,
    })
}

/// The line of a transaction's end: how the next epoch began (KIP-890 part 2), or that the
/// epoch was kept (zoo 8's switch).
fn describe_end(
    (producer_id, producer_epoch): (u64, u16),
    outcome: broker::log::TransactionOutcome,
    (next_producer_id, next_producer_epoch): (u64, u16),
) -> String {
    let ended = format!("ending the {outcome:?} of epoch {producer_epoch}'s transaction");
    if (next_producer_id, next_producer_epoch) == (producer_id, producer_epoch) {
        return format!("transactions: producer {producer_id}: {outcome:?} decided, epoch kept");
    }
    let of_producer = match next_producer_id == producer_id {
        true => String::new(),
        false => format!(" of producer {producer_id}"),
    };
    format!(
        "transactions: producer {next_producer_id} epoch {next_producer_epoch}: granted by \
         {ended}{of_producer}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker_name(broker: u32) -> String {
        format!("b{}", broker + 1)
    }

    #[test]
    fn brokers_are_named_as_the_scenario_names_them() {
        let elected = Observation::PartitionLeaderElected {
            topic: "orders".to_string(),
            partition: 3,
            leader: Some(4),
            leader_epoch: 2,
        };
        assert_eq!(
            describe(&elected, broker_name).unwrap(),
            "controller: proposes b5 to lead orders/3 in leader epoch 2"
        );
        let isr = Observation::IsrShrinkRequested {
            topic: "orders".to_string(),
            partition: 3,
            isr: vec![3, 5],
        };
        assert_eq!(
            describe(&isr, broker_name).unwrap(),
            "orders/3: asks the controller to shrink the ISR to [b4, b6]"
        );
    }

    #[test]
    fn a_truncation_shows_the_offsets_it_cut_and_why() {
        let truncated = Observation::Truncated {
            topic: "orders".to_string(),
            partition: 0,
            from_offset: 450,
            to_offset: 413,
            cause: TruncationCause::Divergence,
        };
        assert_eq!(
            describe(&truncated, broker_name).unwrap(),
            "orders/0: log end offset 450 -> 413, truncated to the divergence point with its leader"
        );
    }

    /// The end of a transaction is the line of how the next epoch began (what a story about
    /// that epoch shows), with the producer id named when the end moved to a new one.
    #[test]
    fn a_transaction_end_tells_how_the_next_epoch_began() {
        let ended = |next_producer_id, next_producer_epoch| Observation::TransactionEnded {
            producer_id: 7,
            producer_epoch: 2,
            outcome: broker::log::TransactionOutcome::Abort,
            next_producer_id,
            next_producer_epoch,
        };
        let line = |observation| describe(&observation, broker_name).unwrap();
        assert_eq!(
            line(ended(7, 3)),
            "transactions: producer 7 epoch 3: granted by ending the Abort of epoch 2's transaction"
        );
        assert_eq!(
            line(ended(8, 0)),
            "transactions: producer 8 epoch 0: granted by ending the Abort of epoch 2's \
             transaction of producer 7"
        );
        assert_eq!(
            line(ended(7, 2)),
            "transactions: producer 7: Abort decided, epoch kept"
        );
    }

    #[test]
    fn frequent_observations_are_only_counted() {
        for observation in [
            Observation::HighWatermarkAdvanced,
            Observation::FencedRequest,
            Observation::DuplicateRequestDropped,
            Observation::ProduceDeduplicated,
            Observation::Perturbed(broker::perturb::Site::FetchFewerRecords),
        ] {
            assert_eq!(describe(&observation, broker_name), None);
        }
    }
}
