//! The shared budget in the real app: with a Redis server set up for the data directory, the
//! Rate limits page shows the budget online with this instance in it and marks the shared
//! (account) limits; when Redis stops it says "shared budget offline".

use crate::support::{
    assert_fits, click, connect, element, mock_binance, screenshot, wait_for_text, Driver, RedisServer,
    ONE_APP_AT_A_TIME,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limits_page_shows_the_shared_budget_and_its_outage() {
    let _turn = ONE_APP_AT_A_TIME.lock().await;
    let mut redis = RedisServer::start().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let base_url = mock_binance().await;
    {
        let kw = keyward::Keyward::open(data_dir.path()).expect("core");
        kw.providers()
            .set("binance", &[("environments.production.base_url", base_url.as_str())])
            .expect("point binance at the mock");
        kw.providers().set_enabled("binance", true).expect("enable binance");
        kw.set_shared_budget(Some(&redis.url()), None).expect("shared budget");
        kw.set_setup_guide(&keyward::setup::SetupGuideEdit { seen: Some(true), ..Default::default() }).expect("guide");
    }
    let driver = Driver::start(data_dir.path());
    let client = connect(&driver).await;

    click(&client, "[data-testid=nav-limits]").await;
    wait_for_text(&client, "[data-testid=shared-budget-panel-state]", "online").await;
    wait_for_text(&client, "[data-testid=shared-budget-instances]", "(this one)").await;
    element(&client, "[data-testid^=gauge-shared-binance-orders]").await;
    assert_fits(&client, "limits-shared").await;
    screenshot(&client, "limits-shared").await;

    redis.stop();
    wait_for_text(&client, "[data-testid=shared-budget-panel-state]", "shared budget offline").await;
    screenshot(&client, "limits-shared-offline").await;

    click(&client, "[data-testid=nav-settings]").await;
    wait_for_text(&client, "[data-testid=shared-budget-state]", &redis.url()).await;
    client.close().await.expect("session closes");
}
