//! `serbero demo` is the README's first command: it must keep running to completion.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_walks_its_scenario_to_a_clean_stop() {
    serbero::demo::run().await.expect("the demo completes");
}
