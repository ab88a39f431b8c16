//! One transactional id at its coordinator, and the transitions requests make it take. Pure:
//! each transition takes the current metadata (as replayed from the state partition) and returns
//! the next metadata to write, or the error to answer.
//!
//! States (Kafka's `TransactionState`): `Empty` (no transaction open), `Ongoing` (partitions
//! added), `PrepareCommit` / `PrepareAbort` (the outcome is decided and durable; markers are
//! being written), `CompleteCommit` / `CompleteAbort` (every marker written).
//!
//! Invariants ([`TransactionMetadata::check_invariants`]): partitions are sorted and distinct;
//! `Empty` and `Complete*` name none, `Ongoing` and `Prepare*` at least one (a transaction
//! that added nothing has nothing to end); for one producer id the epoch never decreases (checked
//! where the coordinator replays transitions).
//!
//! Fencing: every request but InitProducerId names the producer id and epoch it holds; a
//! different producer id is INVALID_PRODUCER_ID_MAPPING, a different epoch PRODUCER_FENCED (an
//! older one is a zombie; a newer one can only come from state this coordinator does not hold).
//! InitProducerId bumps the epoch; when a transaction is open it first aborts it under the
//! bumped epoch, whose markers make the partitions refuse the old instance's batches.

use crate::log::TransactionOutcome;
use crate::message::txn::TxnError;
use crate::topic::TopicName;

/// Where a transactional id's transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TransactionState {
    /// The outcome decided, in `Prepare*` and `Complete*`.
    pub fn outcome(self) -> Option<TransactionOutcome> {
        match self {
            TransactionState::PrepareCommit | TransactionState::CompleteCommit => {
                Some(TransactionOutcome::Commit)
            }
            TransactionState::PrepareAbort | TransactionState::CompleteAbort => {
                Some(TransactionOutcome::Abort)
            }
            TransactionState::Empty | TransactionState::Ongoing => None,
        }
    }

    /// Whether the coordinator owes the partitions their markers.
    pub fn is_prepared(self) -> bool {
        matches!(
            self,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        )
    }

    fn prepare(outcome: TransactionOutcome) -> TransactionState {
        match outcome {
            TransactionOutcome::Commit => TransactionState::PrepareCommit,
            TransactionOutcome::Abort => TransactionState::PrepareAbort,
        }
    }

    fn complete(outcome: TransactionOutcome) -> TransactionState {
        match outcome {
            TransactionOutcome::Commit => TransactionState::CompleteCommit,
            TransactionOutcome::Abort => TransactionState::CompleteAbort,
        }
    }
}

/// What a coordinator persists of one transactional id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionMetadata {
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub state: TransactionState,
    /// The partitions the transaction touched: sorted, distinct.
    pub partitions: Vec<(TopicName, u32)>,
    /// The coordinator aborts an `Ongoing` transaction open longer than this.
    pub timeout_ns: u64,
}

impl TransactionMetadata {
    /// Asserts the module's invariants.
    pub fn check_invariants(&self) {
        assert!(
            self.partitions.windows(2).all(|pair| pair[0] < pair[1]),
            "producer {}: partitions not sorted and distinct: {:?}",
            self.producer_id,
            self.partitions
        );
        let names_partitions = matches!(
            self.state,
            TransactionState::Ongoing
                | TransactionState::PrepareCommit
                | TransactionState::PrepareAbort
        );
        assert_eq!(
            names_partitions,
            !self.partitions.is_empty(),
            "producer {}: {:?} with partitions {:?}",
            self.producer_id,
            self.state,
            self.partitions
        );
    }

    /// Checks that a request from `producer_id` at `producer_epoch` speaks for this metadata.
    fn check_producer(&self, producer_id: u64, producer_epoch: u16) -> Result<(), TxnError> {
        if producer_id != self.producer_id {
            return Err(TxnError::InvalidProducerIdMapping);
        }
        if producer_epoch != self.producer_epoch {
            return Err(TxnError::ProducerFenced);
        }
        Ok(())
    }

    /// The transaction aborted under a bumped epoch (a new instance fenced the old one, or the
    /// transaction timed out). At the last epoch the abort keeps it: nothing can fence then, and
    /// the next InitProducerId moves to a new producer id.
    pub fn aborted_with_bumped_epoch(&self) -> TransactionMetadata {
        assert_eq!(
            self.state,
            TransactionState::Ongoing,
            "only an open transaction is aborted"
        );
        TransactionMetadata {
            producer_epoch: self.producer_epoch.saturating_add(1),
            state: TransactionState::PrepareAbort,
            ..self.clone()
        }
    }

    /// The transaction with every marker written.
    pub fn completed(&self) -> TransactionMetadata {
        let outcome = self.state.outcome().filter(|_| self.state.is_prepared());
        let outcome =
            outcome.unwrap_or_else(|| panic!("completing a {:?} transaction", self.state));
        TransactionMetadata {
            state: TransactionState::complete(outcome),
            partitions: Vec::new(),
            ..self.clone()
        }
    }
}

/// What InitProducerId does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitTransition {
    /// Write this (`Empty`) and answer its producer id and epoch.
    Ready(TransactionMetadata),
    /// Write this abort of the open transaction and answer CONCURRENT_TRANSACTIONS: the producer
    /// retries once the abort completed.
    AbortOpen(TransactionMetadata),
}

/// InitProducerId for a transactional id whose metadata is `current` (`None`: unknown). Takes a
/// fresh producer id from `allocate_producer_id` for an unknown id, or when the epoch would reach
/// its last value (kept for an abort's bump).
pub fn init_producer_id(
    current: Option<&TransactionMetadata>,
    timeout_ns: u64,
    allocate_producer_id: impl FnOnce() -> Result<u64, TxnError>,
) -> Result<InitTransition, TxnError> {
    let Some(current) = current else {
        return Ok(InitTransition::Ready(TransactionMetadata {
            producer_id: allocate_producer_id()?,
            producer_epoch: 0,
            state: TransactionState::Empty,
            partitions: Vec::new(),
            timeout_ns,
        }));
    };
    match current.state {
        TransactionState::Ongoing => Ok(InitTransition::AbortOpen(
            current.aborted_with_bumped_epoch(),
        )),
        TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
            Err(TxnError::ConcurrentTransactions)
        }
        TransactionState::Empty
        | TransactionState::CompleteCommit
        | TransactionState::CompleteAbort => {
            let (producer_id, producer_epoch) = match current.producer_epoch.checked_add(1) {
                Some(bumped) if bumped < u16::MAX => (current.producer_id, bumped),
                _ => (allocate_producer_id()?, 0),
            };
            Ok(InitTransition::Ready(TransactionMetadata {
                producer_id,
                producer_epoch,
                state: TransactionState::Empty,
                partitions: Vec::new(),
                timeout_ns,
            }))
        }
    }
}

/// AddPartitionsToTxn: the metadata to write, or `None` when the open transaction already names
/// every partition (answered at once).
pub fn add_partitions(
    current: Option<&TransactionMetadata>,
    producer_id: u64,
    producer_epoch: u16,
    partitions: &[(TopicName, u32)],
    partitions_max: u32,
) -> Result<Option<TransactionMetadata>, TxnError> {
    let current = current.ok_or(TxnError::InvalidProducerIdMapping)?;
    current.check_producer(producer_id, producer_epoch)?;
    if partitions.is_empty() {
        return Err(TxnError::InvalidRequest {
            reason: "AddPartitionsToTxn names no partition".to_owned(),
        });
    }
    let kept: &[(TopicName, u32)] = match current.state {
        TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
            return Err(TxnError::ConcurrentTransactions);
        }
        TransactionState::Ongoing => &current.partitions,
        TransactionState::Empty
        | TransactionState::CompleteCommit
        | TransactionState::CompleteAbort => &[],
    };
    let mut union: Vec<(TopicName, u32)> = kept.iter().chain(partitions).cloned().collect();
    union.sort();
    union.dedup();
    if union.len() > partitions_max as usize {
        return Err(TxnError::InvalidRequest {
            reason: format!(
                "a transaction of {} partitions is above partitions_per_transaction_max \
                 ({partitions_max})",
                union.len()
            ),
        });
    }
    if current.state == TransactionState::Ongoing && union == current.partitions {
        return Ok(None);
    }
    Ok(Some(TransactionMetadata {
        state: TransactionState::Ongoing,
        partitions: union,
        ..current.clone()
    }))
}

/// EndTxn: the metadata to write, or `None` when there is nothing to write and the answer is OK
/// (a retry of the outcome already decided, or an abort with nothing open).
pub fn end_transaction(
    current: Option<&TransactionMetadata>,
    producer_id: u64,
    producer_epoch: u16,
    outcome: TransactionOutcome,
) -> Result<Option<TransactionMetadata>, TxnError> {
    let current = current.ok_or(TxnError::InvalidProducerIdMapping)?;
    current.check_producer(producer_id, producer_epoch)?;
    match current.state {
        TransactionState::Ongoing => Ok(Some(TransactionMetadata {
            state: TransactionState::prepare(outcome),
            ..current.clone()
        })),
        TransactionState::Empty if outcome == TransactionOutcome::Abort => Ok(None),
        TransactionState::Empty => Err(TxnError::InvalidTxnState),
        decided if decided.outcome() == Some(outcome) => Ok(None),
        _ => Err(TxnError::InvalidTxnState),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCER_ID: u64 = 40;
    const TIMEOUT_NS: u64 = 1_000;

    fn partition(topic: &str, partition: u32) -> (TopicName, u32) {
        (TopicName::new(topic), partition)
    }

    fn metadata(state: TransactionState, epoch: u16) -> TransactionMetadata {
        let partitions = match state {
            TransactionState::Ongoing
            | TransactionState::PrepareCommit
            | TransactionState::PrepareAbort => vec![partition("t", 0)],
            _ => Vec::new(),
        };
        TransactionMetadata {
            producer_id: PRODUCER_ID,
            producer_epoch: epoch,
            state,
            partitions,
            timeout_ns: TIMEOUT_NS,
        }
    }

    fn no_allocation() -> Result<u64, TxnError> {
        panic!("no producer id is allocated here")
    }

    #[test]
    fn init_gives_an_unknown_id_a_fresh_producer_and_bumps_a_known_one() {
        let fresh = init_producer_id(None, TIMEOUT_NS, || Ok(77)).unwrap();
        let InitTransition::Ready(fresh) = fresh else {
            panic!("{fresh:?}");
        };
        assert_eq!((fresh.producer_id, fresh.producer_epoch), (77, 0));
        assert_eq!(fresh.state, TransactionState::Empty);
        for state in [
            TransactionState::Empty,
            TransactionState::CompleteCommit,
            TransactionState::CompleteAbort,
        ] {
            let bumped = init_producer_id(Some(&metadata(state, 3)), 9, no_allocation).unwrap();
            let expected = TransactionMetadata {
                timeout_ns: 9,
                ..metadata(TransactionState::Empty, 4)
            };
            assert_eq!(bumped, InitTransition::Ready(expected), "from {state:?}");
        }
        let last = metadata(TransactionState::Empty, u16::MAX - 1);
        let renewed = init_producer_id(Some(&last), 9, || Ok(78)).unwrap();
        let InitTransition::Ready(renewed) = renewed else {
            panic!("{renewed:?}");
        };
        assert_eq!(
            (renewed.producer_id, renewed.producer_epoch),
            (78, 0),
            "the last epoch is kept for an abort's bump"
        );
    }

    #[test]
    fn init_aborts_an_open_transaction_under_a_bumped_epoch_and_waits_for_a_prepared_one() {
        let open = metadata(TransactionState::Ongoing, 3);
        let InitTransition::AbortOpen(abort) =
            init_producer_id(Some(&open), TIMEOUT_NS, no_allocation).unwrap()
        else {
            panic!("an open transaction is aborted first");
        };
        assert_eq!(abort.state, TransactionState::PrepareAbort);
        assert_eq!(abort.producer_epoch, 4, "the old instance is fenced");
        assert_eq!(
            abort.partitions, open.partitions,
            "its markers go everywhere"
        );
        for state in [
            TransactionState::PrepareCommit,
            TransactionState::PrepareAbort,
        ] {
            assert_eq!(
                init_producer_id(Some(&metadata(state, 3)), TIMEOUT_NS, no_allocation),
                Err(TxnError::ConcurrentTransactions)
            );
        }
    }

    #[test]
    fn add_partitions_fences_and_opens_or_widens_the_transaction() {
        let empty = metadata(TransactionState::Empty, 2);
        let t1 = [partition("t", 1), partition("t", 0), partition("t", 1)];
        assert_eq!(
            add_partitions(None, PRODUCER_ID, 2, &t1, 8),
            Err(TxnError::InvalidProducerIdMapping)
        );
        assert_eq!(
            add_partitions(Some(&empty), PRODUCER_ID + 1, 2, &t1, 8),
            Err(TxnError::InvalidProducerIdMapping)
        );
        assert_eq!(
            add_partitions(Some(&empty), PRODUCER_ID, 1, &t1, 8),
            Err(TxnError::ProducerFenced),
            "a zombie"
        );
        let open = add_partitions(Some(&empty), PRODUCER_ID, 2, &t1, 8)
            .unwrap()
            .expect("a write");
        assert_eq!(open.state, TransactionState::Ongoing);
        assert_eq!(open.partitions, [partition("t", 0), partition("t", 1)]);
        open.check_invariants();
        assert_eq!(
            add_partitions(Some(&open), PRODUCER_ID, 2, &[partition("t", 1)], 8),
            Ok(None),
            "already in the transaction: no write"
        );
        let wider = add_partitions(Some(&open), PRODUCER_ID, 2, &[partition("u", 0)], 8)
            .unwrap()
            .expect("a write");
        assert_eq!(wider.partitions.len(), 3);
        assert!(matches!(
            add_partitions(Some(&open), PRODUCER_ID, 2, &[partition("u", 0)], 2),
            Err(TxnError::InvalidRequest { .. })
        ));
        let prepared = metadata(TransactionState::PrepareCommit, 2);
        assert_eq!(
            add_partitions(Some(&prepared), PRODUCER_ID, 2, &t1, 8),
            Err(TxnError::ConcurrentTransactions)
        );
        let completed = TransactionMetadata {
            partitions: Vec::new(),
            ..metadata(TransactionState::CompleteCommit, 2)
        };
        let next = add_partitions(Some(&completed), PRODUCER_ID, 2, &[partition("u", 0)], 8)
            .unwrap()
            .expect("a write");
        assert_eq!(
            next.partitions,
            [partition("u", 0)],
            "a new transaction starts afresh"
        );
    }

    #[test]
    fn end_transaction_prepares_answers_retries_and_refuses_the_other_outcome() {
        use TransactionOutcome::{Abort, Commit};
        let open = metadata(TransactionState::Ongoing, 2);
        let prepared = end_transaction(Some(&open), PRODUCER_ID, 2, Commit)
            .unwrap()
            .expect("a write");
        assert_eq!(prepared.state, TransactionState::PrepareCommit);
        assert_eq!(prepared.partitions, open.partitions);
        assert_eq!(
            end_transaction(Some(&open), PRODUCER_ID, 1, Commit),
            Err(TxnError::ProducerFenced)
        );
        assert_eq!(
            end_transaction(Some(&prepared), PRODUCER_ID, 2, Commit),
            Ok(None),
            "a retry"
        );
        assert_eq!(
            end_transaction(Some(&prepared), PRODUCER_ID, 2, Abort),
            Err(TxnError::InvalidTxnState)
        );
        let completed = prepared.completed();
        assert_eq!(completed.state, TransactionState::CompleteCommit);
        assert!(completed.partitions.is_empty());
        completed.check_invariants();
        assert_eq!(
            end_transaction(Some(&completed), PRODUCER_ID, 2, Commit),
            Ok(None)
        );
        assert_eq!(
            end_transaction(Some(&completed), PRODUCER_ID, 2, Abort),
            Err(TxnError::InvalidTxnState)
        );
        let empty = metadata(TransactionState::Empty, 2);
        assert_eq!(
            end_transaction(Some(&empty), PRODUCER_ID, 2, Abort),
            Ok(None)
        );
        assert_eq!(
            end_transaction(Some(&empty), PRODUCER_ID, 2, Commit),
            Err(TxnError::InvalidTxnState)
        );
    }

    #[test]
    fn a_timed_out_transaction_is_aborted_under_a_bumped_epoch() {
        let open = metadata(TransactionState::Ongoing, 5);
        let aborted = open.aborted_with_bumped_epoch();
        assert_eq!(aborted.state, TransactionState::PrepareAbort);
        assert_eq!(aborted.producer_epoch, 6);
        let last = metadata(TransactionState::Ongoing, u16::MAX);
        assert_eq!(last.aborted_with_bumped_epoch().producer_epoch, u16::MAX);
        assert_eq!(aborted.completed().state, TransactionState::CompleteAbort);
    }

    #[test]
    #[should_panic(expected = "partitions not sorted")]
    fn unsorted_partitions_are_a_bug() {
        let mut open = metadata(TransactionState::Ongoing, 0);
        open.partitions = vec![partition("t", 1), partition("t", 0)];
        open.check_invariants();
    }
}
