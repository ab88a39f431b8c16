//! The data plane without faults: acks=all sends are acknowledged, consumers read them in
//! order, and every replica ends with the same log (issue 4).

mod data_plane;

use broker::BugsConfig;
use data_plane::*;

#[test]
fn without_faults_every_send_is_acknowledged_and_read() {
    let mut cluster = cluster(
        config(3, BugsConfig::default()),
        1,
        clients(3, 2, 200, 2_000 * MS),
    );
    cluster
        .run_until(3_000 * MS)
        .unwrap_or_else(|violation| panic!("{violation}"));
    let events = cluster.drain_client_events();
    let (sends, ok, polls) = summary(&events);
    eprintln!(
        "sends {sends} ok {ok} polls {polls} counters {:?}",
        cluster.counters()
    );
    assert!(sends > 100, "sends {sends}");
    assert_eq!(sends, ok, "every send acknowledged");
    assert!(polls > 10);
    assert!(converged(&cluster));
    assert_eq!(check_logs(&cluster, &events), Vec::<String>::new());
    assert_eq!(check_reads(&cluster, &events), Vec::<String>::new());
    let read: usize = events
        .iter()
        .filter_map(|(_, event)| match &event.operation {
            broker::client::ClientOperation::Poll(polled) => Some(
                polled
                    .iter()
                    .map(|partition| partition.records.len())
                    .sum::<usize>(),
            ),
            _ => None,
        })
        .sum();
    assert_eq!(
        read,
        acknowledged(&events).len(),
        "the consumer read every record once"
    );
}
