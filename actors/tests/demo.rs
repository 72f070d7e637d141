//! `serbero demo` is the README's first command, `serbero demo --mediation` its second: both must
//! keep running to completion.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_walks_its_scenario_to_a_clean_stop() {
    serbero::demo::run().await.expect("the demo completes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediation_demo_summarizes_one_dispute_and_escalates_another() {
    serbero::demo::mediation::run().await.expect("the mediation demo completes");
}
