//! Issue 4: the whole controller (watches, queue, limiter) converges 200 AuthClients against a
//! faulty simulator at Auth0's free-plan limit, with no duplicate and no request over the limit.

use std::collections::HashSet;
use std::time::Duration;

use auth0_sim::{Faults, Latency, RateLimit, SimConfig};
use nexus_controller::ControllerConfig;

use crate::harness::*;

const CLIENTS: usize = 200;

#[tokio::test(start_paused = true)]
async fn two_hundred_clients_converge_under_faults_at_two_requests_per_second() {
    let h = Harness::with(Options {
        sim: SimConfig {
            rate_limit: RateLimit {
                burst: 2,
                per_second: 2,
            },
            faults: Faults {
                latency: Latency::Uniform {
                    min: Duration::from_millis(5),
                    max: Duration::from_millis(60),
                },
                error_rate: 0.05,
                ..Faults::default()
            },
            seed: Some(7),
            ..SimConfig::default()
        },
        tenant_rps: 2,
        wait_budget: None,
        config: ControllerConfig {
            cluster_id: "test-cluster".into(),
            drift_scan_interval: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(20),
            ..ControllerConfig::default()
        },
        ..Options::default()
    })
    .await;
    h.apply_fleet(CLIENTS);
    let running = h.run_controller();

    let started = tokio::time::Instant::now();
    // A guard in virtual time (the limiter's waits and the injected latency are virtual).
    let converged = h.wait_ready(Duration::from_secs(1800), CLIENTS).await;
    let took = started.elapsed();
    let objects = h.kube.list(&authclients_path());
    assert!(
        converged,
        "only {} of {CLIENTS} Ready",
        ready_authclients(&h.kube)
    );
    running.stop().await;

    // Never a duplicate: exactly one Auth0 client per AuthClient, each tagged with its owner.
    let clients = h.sim.clients();
    assert_eq!(clients.len(), CLIENTS, "no duplicate, none lost");
    let owners: HashSet<&str> = clients
        .iter()
        .filter_map(|c| c["client_metadata"]["nexus_owner_uid"].as_str())
        .collect();
    assert_eq!(owners.len(), CLIENTS);
    for obj in &objects {
        let uid = obj["metadata"]["uid"].as_str().expect("uid");
        let id = obj["status"]["clientId"].as_str().expect("client id");
        let client = h.sim.client(id).expect("the recorded client exists");
        assert_eq!(client["client_metadata"]["nexus_owner_uid"], uid);
        assert!(
            h.secret(&format!(
                "{}-auth0",
                obj["metadata"]["name"].as_str().expect("name")
            ))
            .is_some()
        );
    }
    // Gentle on the tenant: the client-side limiter kept every request within the tenant's
    // limit, so the simulator never had to answer 429.
    let counters = h.sim.counters();
    assert_eq!(counters.rate_limited(), 0, "429s received: {counters:?}");
    assert!(
        counters.injected_errors() > 0,
        "the faults were really injected: {counters:?}"
    );
    // And without idling: at two requests per second the calls need `calls / 2` seconds; the
    // whole convergence (virtual time: the limiter's waits, the latency, the back-offs after
    // the injected errors) takes little more.
    let needed = Duration::from_secs_f64(counters.total() as f64 / 2.0);
    assert!(
        took <= needed + Duration::from_secs(30),
        "{took:?} for {} calls: the limiter or the back-offs waited for nothing",
        counters.total()
    );
    // Every create beyond one per AuthClient is explained by an injected failure.
    let extra_creates = counters.get("POST /api/v2/clients") - CLIENTS as u64;
    assert!(extra_creates <= counters.injected_errors(), "{counters:?}");
    println!(
        "converged {CLIENTS} clients in {took:?} (virtual): {} Management API calls ({:.2} per client), {} injected errors, {} 429s",
        counters.total(),
        counters.total() as f64 / CLIENTS as f64,
        counters.injected_errors(),
        counters.rate_limited()
    );
}
