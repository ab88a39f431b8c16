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
//!
//! **Every transaction ends in a new epoch** (KIP-890 part 2, transaction version 2): EndTxn
//! writes `Prepare*` under the bumped epoch, its markers carry it, and its answer hands it to
//! the producer, which runs its next transaction under it. So nothing the producer sent in a
//! transaction can act on the next one: a batch of unknown fate that lands after the marker is
//! refused by the partition (its epoch is fenced), and a delayed copy of the EndTxn is refused by
//! the coordinator. A retry of the EndTxn is told from such a copy by
//! [`TransactionMetadata::ended_by`], the producer id and epoch that ended the transaction: it is
//! answered as the first copy was as long as no transaction began since. When the bump would
//! reach the last epoch, the producer continues under a new producer id
//! ([`TransactionMetadata::next_producer_id`], epoch 0). Zoo 8
//! ([`crate::BugsConfig::end_transactions_without_epoch_bump`]) ends transactions under the
//! producer's epoch, as transaction version 1 did, and tells a retry by the state alone.
//!
//! Invariants on top of those above: `ended_by` is set only in `Prepare*` and `Complete*`, and
//! `next_producer_id` only in `Prepare*`, with `ended_by`.

use crate::log::TransactionOutcome;
use crate::message::txn::{EndTxnRequest, TxnError};
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
    /// The producer id and epoch whose EndTxn ended the last transaction (Kafka's
    /// `lastProducerEpoch`): a retry of that EndTxn is answered again. `None` when no EndTxn
    /// ended it (a timeout, a new instance), or a transaction began since.
    pub ended_by: Option<(u64, u16)>,
    /// Set in `Prepare*` when the end exhausted the producer id's epochs: the producer continues
    /// under this id, at epoch 0, and `Complete*` moves to it.
    pub next_producer_id: Option<u64>,
}

/// How EndTxn treats the producer's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndEpoch {
    /// Every transaction ends in a bumped epoch (KIP-890 part 2): the default.
    Bump,
    /// Transactions end under the producer's epoch (transaction version 1): zoo 8's planted
    /// bug.
    Keep,
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
        let ended = self.state.outcome().is_some();
        assert!(
            ended || self.ended_by.is_none(),
            "producer {}: {:?} remembers the EndTxn of {:?}",
            self.producer_id,
            self.state,
            self.ended_by
        );
        assert!(
            self.next_producer_id.is_none() || self.state.is_prepared() && self.ended_by.is_some(),
            "producer {}: {:?} moves to producer {:?} (ended by {:?})",
            self.producer_id,
            self.state,
            self.next_producer_id,
            self.ended_by
        );
    }

    /// The producer id and epoch the producer holds from this state on: after an end that
    /// exhausted the epochs, the next producer id at epoch 0.
    pub fn current_producer(&self) -> (u64, u16) {
        match self.next_producer_id {
            Some(next) => (next, 0),
            None => (self.producer_id, self.producer_epoch),
        }
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
            ended_by: None,
            ..self.clone()
        }
    }

    /// The transaction with every marker written.
    pub fn completed(&self) -> TransactionMetadata {
        let outcome = self.state.outcome().filter(|_| self.state.is_prepared());
        let outcome =
            outcome.unwrap_or_else(|| panic!("completing a {:?} transaction", self.state));
        let (producer_id, producer_epoch) = self.current_producer();
        TransactionMetadata {
            producer_id,
            producer_epoch,
            state: TransactionState::complete(outcome),
            partitions: Vec::new(),
            next_producer_id: None,
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
            ended_by: None,
            next_producer_id: None,
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
                ended_by: None,
                next_producer_id: None,
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
        ended_by: None,
        ..current.clone()
    }))
}

/// EndTxn: the metadata to write, or `None` when there is nothing to write and the answer is OK
/// with [`TransactionMetadata::current_producer`] (a retry of the EndTxn that ended the last
/// transaction, or an abort with nothing open). Under [`EndEpoch::Bump`] the end takes the
/// producer to the next epoch, or to a producer id from `allocate_producer_id` when that epoch
/// would be the last.
pub fn end_transaction(
    current: Option<&TransactionMetadata>,
    request: &EndTxnRequest,
    end_epoch: EndEpoch,
    allocate_producer_id: impl FnOnce() -> Result<u64, TxnError>,
) -> Result<Option<TransactionMetadata>, TxnError> {
    let current = current.ok_or(TxnError::InvalidProducerIdMapping)?;
    let requester = (request.producer_id, request.producer_epoch);
    if end_epoch == EndEpoch::Bump && current.ended_by == Some(requester) {
        return match current.state.outcome() == Some(request.outcome) {
            true => Ok(None), // A retry.
            false => Err(TxnError::InvalidTxnState),
        };
    }
    current.check_producer(request.producer_id, request.producer_epoch)?;
    let decided_as_asked = current.state.outcome() == Some(request.outcome);
    let abort = request.outcome == TransactionOutcome::Abort;
    match current.state {
        TransactionState::Ongoing => ended(current, request, end_epoch, allocate_producer_id),
        // Nothing open under the producer's epoch: an abort has nothing to do.
        TransactionState::Empty if abort => Ok(None),
        TransactionState::Empty => Err(TxnError::InvalidTxnState),
        // Transaction version 1 tells a retry by the outcome decided under the same epoch.
        _ if end_epoch == EndEpoch::Keep && decided_as_asked => Ok(None),
        _ if end_epoch == EndEpoch::Keep => Err(TxnError::InvalidTxnState),
        // Prepared under the producer's own epoch (a timeout that kept it, zoo 7): it ends
        // soon, and the answer then is definite.
        TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
            Err(TxnError::ConcurrentTransactions)
        }
        _ if abort => Ok(None),
        _ => Err(TxnError::InvalidTxnState),
    }
}

/// The open transaction `current` ended as `request` asks, in the epoch `end_epoch` says.
fn ended(
    current: &TransactionMetadata,
    request: &EndTxnRequest,
    end_epoch: EndEpoch,
    allocate_producer_id: impl FnOnce() -> Result<u64, TxnError>,
) -> Result<Option<TransactionMetadata>, TxnError> {
    let state = TransactionState::prepare(request.outcome);
    if end_epoch == EndEpoch::Keep {
        return Ok(Some(TransactionMetadata {
            state,
            ..current.clone()
        }));
    }
    let bumped = current.producer_epoch.checked_add(1);
    let bumped = bumped.expect("an open transaction's epoch is below the last");
    let next_producer_id = match bumped {
        u16::MAX => Some(allocate_producer_id()?),
        _ => None,
    };
    Ok(Some(TransactionMetadata {
        producer_epoch: bumped,
        state,
        ended_by: Some((request.producer_id, request.producer_epoch)),
        next_producer_id,
        ..current.clone()
    }))
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
            ended_by: None,
            next_producer_id: None,
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

    /// An EndTxn request from producer [`PRODUCER_ID`] at `epoch`.
    fn end_request(epoch: u16, outcome: TransactionOutcome) -> EndTxnRequest {
        EndTxnRequest {
            request_id: 1,
            transactional_id: "tx".to_owned(),
            producer_id: PRODUCER_ID,
            producer_epoch: epoch,
            outcome,
        }
    }

    /// EndTxn from producer [`PRODUCER_ID`] at `epoch`.
    fn end(
        current: &TransactionMetadata,
        epoch: u16,
        outcome: TransactionOutcome,
        end_epoch: EndEpoch,
    ) -> Result<Option<TransactionMetadata>, TxnError> {
        let request = end_request(epoch, outcome);
        end_transaction(Some(current), &request, end_epoch, no_allocation)
    }

    #[test]
    fn an_end_bumps_the_epoch_and_answers_a_retry_but_fences_a_stale_copy() {
        use TransactionOutcome::{Abort, Commit};
        let open = metadata(TransactionState::Ongoing, 2);
        let prepared = end(&open, 2, Commit, EndEpoch::Bump)
            .unwrap()
            .expect("a write");
        prepared.check_invariants();
        assert_eq!(prepared.state, TransactionState::PrepareCommit);
        assert_eq!(prepared.producer_epoch, 3, "the markers fence epoch 2");
        assert_eq!(prepared.current_producer(), (PRODUCER_ID, 3));
        assert_eq!(prepared.ended_by, Some((PRODUCER_ID, 2)));
        assert_eq!(prepared.partitions, open.partitions);
        assert_eq!(
            end(&open, 1, Commit, EndEpoch::Bump),
            Err(TxnError::ProducerFenced)
        );
        let completed = prepared.completed();
        completed.check_invariants();
        assert_eq!(completed.producer_epoch, 3);
        for decided in [&prepared, &completed] {
            assert_eq!(end(decided, 2, Commit, EndEpoch::Bump), Ok(None), "a retry");
            assert_eq!(
                end(decided, 2, Abort, EndEpoch::Bump),
                Err(TxnError::InvalidTxnState)
            );
        }
        assert_eq!(
            end(&prepared, 3, Commit, EndEpoch::Bump),
            Err(TxnError::ConcurrentTransactions),
            "the new epoch's commit, with nothing added, waits for the markers"
        );
        assert_eq!(
            end(&completed, 3, Commit, EndEpoch::Bump),
            Err(TxnError::InvalidTxnState),
            "then has nothing to commit"
        );
        assert_eq!(end(&completed, 3, Abort, EndEpoch::Bump), Ok(None));

        // The next transaction begins under epoch 3: the first one's EndTxn is a stale copy.
        let next = add_partitions(Some(&completed), PRODUCER_ID, 3, &[partition("t", 0)], 8);
        let next = next.unwrap().expect("a write");
        next.check_invariants();
        assert_eq!(next.ended_by, None);
        for outcome in [Commit, Abort] {
            assert_eq!(
                end(&next, 2, outcome, EndEpoch::Bump),
                Err(TxnError::ProducerFenced),
                "a delayed copy of the last EndTxn ({outcome:?}) leaves the new one open"
            );
        }
    }

    #[test]
    fn an_end_at_the_last_epoch_moves_the_producer_to_a_new_id() {
        let open = metadata(TransactionState::Ongoing, u16::MAX - 1);
        let request = end_request(u16::MAX - 1, TransactionOutcome::Commit);
        let prepared = end_transaction(Some(&open), &request, EndEpoch::Bump, || Ok(91));
        let prepared = prepared.unwrap().expect("a write");
        prepared.check_invariants();
        assert_eq!(
            (prepared.producer_id, prepared.producer_epoch),
            (PRODUCER_ID, u16::MAX),
            "the markers fence the old id's last epoch"
        );
        assert_eq!(prepared.current_producer(), (91, 0));
        let completed = prepared.completed();
        completed.check_invariants();
        assert_eq!((completed.producer_id, completed.producer_epoch), (91, 0));
        assert_eq!(completed.current_producer(), (91, 0));
        let retry = end_transaction(Some(&completed), &request, EndEpoch::Bump, no_allocation);
        assert_eq!(retry, Ok(None), "a retry under the old id");
        let refused = end_transaction(Some(&open), &request, EndEpoch::Bump, || {
            Err(TxnError::CoordinatorNotAvailable)
        });
        assert_eq!(refused, Err(TxnError::CoordinatorNotAvailable));
    }

    #[test]
    fn version_1_ends_under_the_same_epoch_and_tells_retries_by_the_state() {
        use TransactionOutcome::{Abort, Commit};
        let keep = EndEpoch::Keep;
        let open = metadata(TransactionState::Ongoing, 2);
        let prepared = end(&open, 2, Commit, keep).unwrap().expect("a write");
        assert_eq!(prepared.state, TransactionState::PrepareCommit);
        assert_eq!((prepared.producer_epoch, prepared.ended_by), (2, None));
        assert_eq!(prepared.partitions, open.partitions);
        assert_eq!(end(&open, 1, Commit, keep), Err(TxnError::ProducerFenced));
        assert_eq!(end(&prepared, 2, Commit, keep), Ok(None), "a retry");
        assert_eq!(
            end(&prepared, 2, Abort, keep),
            Err(TxnError::InvalidTxnState)
        );
        let completed = prepared.completed();
        assert_eq!(completed.state, TransactionState::CompleteCommit);
        assert!(completed.partitions.is_empty());
        completed.check_invariants();
        assert_eq!(end(&completed, 2, Commit, keep), Ok(None));
        assert_eq!(
            end(&completed, 2, Abort, keep),
            Err(TxnError::InvalidTxnState)
        );
        let empty = metadata(TransactionState::Empty, 2);
        for end_epoch in [EndEpoch::Keep, EndEpoch::Bump] {
            assert_eq!(end(&empty, 2, Abort, end_epoch), Ok(None));
            assert_eq!(
                end(&empty, 2, Commit, end_epoch),
                Err(TxnError::InvalidTxnState)
            );
        }
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
    #[should_panic(expected = "remembers the EndTxn")]
    fn an_open_transaction_that_remembers_an_end_is_a_bug() {
        let mut open = metadata(TransactionState::Ongoing, 0);
        open.ended_by = Some((PRODUCER_ID, 0));
        open.check_invariants();
    }

    #[test]
    #[should_panic(expected = "partitions not sorted")]
    fn unsorted_partitions_are_a_bug() {
        let mut open = metadata(TransactionState::Ongoing, 0);
        open.partitions = vec![partition("t", 1), partition("t", 0)];
        open.check_invariants();
    }
}
