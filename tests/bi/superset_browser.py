"""Apache Superset on fstore, in a real (headless) Chromium driven by
Selenium: log in, add fstore as a database, browse a feature group's
columns, make it a physical dataset, run a SQL Lab query and render a
chart. Each step checks what the page shows; screenshots go to the
artifacts directory. Run by tests/bi/run.sh, which starts fstore (with the
`rides` feature group seeded) and Superset.

Usage: superset_browser.py SUPERSET_URL FSTORE_PORT ARTIFACTS_DIR
"""

import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

superset, fstore_port, artifacts = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(artifacts, exist_ok=True)

options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--disable-gpu"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(120)
driver.set_script_timeout(120)
wait = WebDriverWait(driver, 120)


def shot(name):
    path = os.path.join(artifacts, f"{name}.png")
    driver.save_screenshot(path)
    print(f"screenshot: {path}")


def page_text():
    # innerText: what the page renders, including the chart pane (whose
    # cells Selenium's visibility heuristics leave out of `.text`).
    return driver.execute_script("return document.body.innerText") or ""


def wait_for_text(*texts):
    """Waits until every text is on the page; the page's text if not."""
    try:
        wait.until(lambda d: all(t in page_text() for t in texts))
    except Exception:
        raise AssertionError(f"{texts} not on the page; it shows:\n{page_text()[:3000]}")


def api(method, path, body=None):
    """Superset's REST API called from the page, with the browser's login
    session (what its own React views do)."""
    result = driver.execute_async_script(
        """
        const [method, path, body, done] = arguments;
        fetch(path, {method, credentials: 'same-origin',
                     headers: {'Content-Type': 'application/json'},
                     body: body === null ? undefined : JSON.stringify(body)})
          .then(async r => done({status: r.status, body: await r.text()}))
          .catch(e => done({status: 0, body: String(e)}));
        """,
        method, path, body,
    )
    try:
        parsed = json.loads(result["body"])
    except ValueError:
        parsed = result["body"]
    return result["status"], parsed


try:
    # 1. Log in through the login form.
    driver.get(f"{superset}/login/")
    wait.until(EC.presence_of_element_located((By.ID, "username"))).send_keys("admin")
    driver.find_element(By.ID, "password").send_keys("admin")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit], button[type=submit]").click()
    wait.until(lambda d: "/login" not in d.current_url)

    # 2. Add fstore as a database: Superset tests the connection first
    # (psycopg2, SQLAlchemy's PostgreSQL dialect), as its connect dialog does.
    uri = f"postgresql://superset@127.0.0.1:{fstore_port}/fstore"
    status, body = api("POST", "/api/v1/database/test_connection/",
                       {"sqlalchemy_uri": uri, "database_name": "fstore"})
    assert status == 200, (status, body)
    status, body = api("POST", "/api/v1/database/",
                       {"sqlalchemy_uri": uri, "database_name": "fstore",
                        "expose_in_sqllab": True, "allow_run_async": False})
    assert status == 201, (status, body)
    database_id = body["id"]
    driver.get(f"{superset}/databaseview/list/")
    wait_for_text("fstore", "postgresql")
    shot("1-database-list")

    # 3. Browse the schemas, tables and a feature group's columns (what the
    # dataset editor and SQL Lab's table browser show).
    status, body = api("GET", f"/api/v1/database/{database_id}/schemas/")
    assert status == 200 and "public" in body["result"], (status, body)
    status, body = api("GET", f"/api/v1/database/{database_id}/tables/?q=(schema_name:public)")
    tables = [t["value"] for t in body["result"]]
    assert status == 200 and tables.count("rides") == 1, (status, body)
    assert not any(t.startswith("rides_v") for t in tables), tables
    status, body = api("GET", f"/api/v1/database/{database_id}/table/rides/public/")
    assert status == 200, (status, body)
    columns = [(c["name"], c["type"]) for c in body["columns"]]
    assert columns == [("ride_id", "BIGINT"), ("pickup_at", "TIMESTAMP"), ("city", "TEXT"),
                       ("fare", "DOUBLE_PRECISION")], columns
    assert body["comment"] == "rides taken", body

    # 4. A physical dataset on the feature group, then its columns in the
    # chart editor (Explore), which reads them from the dataset.
    status, body = api("POST", "/api/v1/dataset/",
                       {"database": database_id, "schema": "public", "table_name": "rides"})
    assert status == 201, (status, body)
    dataset_id = body["id"]
    assert [c["column_name"] for c in body["data"]["columns"]] == [
        "ride_id", "pickup_at", "city", "fare"], body["data"]["columns"]
    assert [c["column_name"] for c in body["data"]["columns"] if c["is_dttm"]] == ["pickup_at"]
    driver.get(f"{superset}/explore/?datasource_type=table&datasource_id={dataset_id}")
    wait_for_text("rides", "ride_id", "pickup_at", "city", "fare")
    shot("2-explore-dataset-columns")

    # 5. SQL Lab: a query typed into the editor's URL, run, and its rows
    # in the result grid.
    sql = ("SELECT city, count(*) AS rides, sum(fare) AS fares FROM rides "
           "GROUP BY city ORDER BY city")
    from urllib.parse import quote
    driver.get(f"{superset}/sqllab/?dbid={database_id}&schema=public&sql={quote(sql)}&autorun=true")
    wait_for_text("Lyon", "Nice", "Paris", "32.5")
    shot("3-sqllab-result")

    # 6. A chart (a table of fares by city) saved on the dataset and
    # rendered in Explore.
    params = {
        "datasource": f"{dataset_id}__table", "viz_type": "table", "query_mode": "aggregate",
        "groupby": ["city"], "metrics": [{"expressionType": "SIMPLE", "column": {"column_name": "fare"},
                                           "aggregate": "SUM", "label": "fare_total"}],
        "row_limit": 100, "order_desc": True, "adhoc_filters": [],
    }
    status, body = api("POST", "/api/v1/chart/", {
        "slice_name": "Fares by city", "viz_type": "table", "datasource_id": dataset_id,
        "datasource_type": "table", "params": json.dumps(params)})
    assert status == 201, (status, body)
    chart_id = body["id"]
    driver.get(f"{superset}/explore/?slice_id={chart_id}")
    wait_for_text("Fares by city", "fare_total", "Paris", "32.5", "Nice", "15.25")
    shot("4-chart")
    print("superset browser test: ok")
except Exception:
    shot("failure")
    raise
finally:
    driver.quit()
