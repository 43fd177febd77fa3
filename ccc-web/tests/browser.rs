//! The CCC web console driven in a real headless browser (Debian's Chromium through
//! ChromeDriver, over WebDriver with fantoccini), as a user clicks through it: login as the
//! Administrator; (1) devices added and authorised, Import Partitions (Get Started, rows edited,
//! Finish Imports); (2) a service template added; (3) the Create Service wizard (an HA
//! service) and its initialisation; (4) a refused migration (7.7 to 7.4) with CCC's message on
//! the page; (5) the Migrate Service wizard from the 6.x PPSO service to two 7.x devices,
//! followed on its progress page to success (password devices); and the seed's browser case,
//! a 6.x PPSO PED service migrated to two 7.x PED devices (the fixture's PED variant). Each
//! step checks what the page shows and the outcome through `hsmsim::estate::ccc` (the migrated
//! objects through the store).
//!
//! Ignored by default: `.ci/browser.sh` installs Chromium and ChromeDriver, starts ChromeDriver
//! on a free loopback port and runs this test with `HSMSIM_WEBDRIVER_URL` set. A failing step
//! leaves a screenshot and the page source in `target/ccc-browser-artifacts/`
//! (`<scenario>-<step>.png` and `.html`).
use cryptoki_sys::*;
use fantoccini::{Client, ClientBuilder, Locator};
use hsmsim::base::attribute::Attributes;
use hsmsim::base::ids::PartitionId;
use hsmsim::crypto::Mechanism;
use hsmsim::engine::Engine;
use hsmsim::estate::ccc::{self, MigrationState};
use hsmsim::estate::{Choice, LAB_FILE, LabSelection, open_store, select};
use hsmsim_ccc_web::{RunningServer, ServeOptions, start};
use std::fmt::Display;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod migrate_fixture;
use migrate_fixture::lab as fixture;

/// The WebDriver server the test drives (ChromeDriver's URL).
const WEBDRIVER_VARIABLE: &str = "HSMSIM_WEBDRIVER_URL";
/// The Chromium binary (Debian's package `chromium`), unless `HSMSIM_CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";
const ADMIN: (&str, &str) = ("ccc-admin", "admin-pass-1");
/// The payments partition on the CCC server's client (fixtures/labs/luna-ccc.toml).
const PAYMENTS_SLOT: CK_SLOT_ID = 1;
const PAYMENTS_PO: &str = "PO-payments-2021";
const PAYMENTS_CO: &str = "CO-payments-2021";
/// The payments crypto officer's challenge in the PED test (simulator-defined).
const PED_CHALLENGE: &str = "payments-chal-1";
const DOMAIN: &str = "acme-ccc-domain";
/// How long a page element or a migration is waited for.
const PATIENCE: Duration = Duration::from_secs(60);

/// A step's outcome: a failure is a sentence saying what was expected and what was seen.
type Step<T = ()> = Result<T, String>;

fn check(holds: bool, what: impl FnOnce() -> String) -> Step {
    if holds { Ok(()) } else { Err(what()) }
}

fn said<T, E: Display>(outcome: Result<T, E>, doing: &str) -> Step<T> {
    outcome.map_err(|e| format!("{doing}: {e}"))
}

/// The browser session on the console at `base`, and where a failed step leaves its traces.
struct Console {
    client: Client,
    base: String,
    artifacts: PathBuf,
}

impl Console {
    async fn goto(&self, path: &str) -> Step {
        said(
            self.client.goto(&format!("{}{path}", self.base)).await,
            &format!("opening {path}"),
        )
    }

    /// The element `css`, waited for (pages load after each click).
    async fn find(&self, css: &str) -> Step<fantoccini::elements::Element> {
        said(
            self.client
                .wait()
                .at_most(PATIENCE)
                .for_element(Locator::Css(css))
                .await,
            &format!("finding {css}"),
        )
    }

    /// Clicks `css` (a submit button or a link) and waits until the next page replaced this
    /// one (its old document gone stale).
    async fn submit(&self, css: &str) -> Step {
        let old = self.find("html").await?;
        self.click(css).await?;
        let since = Instant::now();
        while old.tag_name().await.is_ok() {
            check(since.elapsed() < PATIENCE, || {
                format!("clicking {css} led to no new page")
            })?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Clicks `css` on this page (a checkbox, a radio button, an option).
    async fn click(&self, css: &str) -> Step {
        said(
            self.find(css).await?.click().await,
            &format!("clicking {css}"),
        )
    }

    /// Replaces the value of the input `css` with `value`.
    async fn fill(&self, css: &str, value: &str) -> Step {
        let input = self.find(css).await?;
        said(input.clear().await, &format!("clearing {css}"))?;
        said(input.send_keys(value).await, &format!("typing into {css}"))
    }

    /// Fills the inputs of `form` named in `fields` (name, value).
    async fn fill_in(&self, form: &str, fields: &[(&str, &str)]) -> Step {
        for (name, value) in fields {
            self.fill(&format!("{form} input[name={name}]"), value)
                .await?;
        }
        Ok(())
    }

    /// Chooses `value` in the select `css`.
    async fn choose(&self, css: &str, value: &str) -> Step {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await
    }

    async fn text(&self, css: &str) -> Step<String> {
        said(
            self.find(css).await?.text().await,
            &format!("reading {css}"),
        )
    }

    /// The texts of every element `css` on the page as it is now.
    async fn texts(&self, css: &str) -> Step<Vec<String>> {
        let mut texts = Vec::new();
        for element in said(
            self.client.find_all(Locator::Css(css)).await,
            &format!("finding {css}"),
        )? {
            texts.push(said(element.text().await, &format!("reading {css}"))?);
        }
        Ok(texts)
    }

    /// Fails unless the page's `h1` is `title` (the page a click led to).
    async fn on_page(&self, title: &str) -> Step {
        let shown = self.text("h1").await?;
        let error = self.texts("#error").await?;
        check(shown == title, || {
            format!("expected the page \"{title}\", saw \"{shown}\" (error: {error:?})")
        })
    }

    /// Fails when the page shows CCC's refusal.
    async fn no_error(&self) -> Step {
        let error = self.texts("#error").await?;
        check(error.is_empty(), || {
            format!("the page shows an error: {error:?}")
        })
    }

    /// Ends the test at a failed step: a screenshot and the page source are saved first.
    async fn passed<T>(&self, scenario: &str, step: &str, outcome: Step<T>) -> T {
        match outcome {
            Ok(value) => value,
            Err(failure) => {
                let name = format!("{scenario}-{step}")
                    .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
                std::fs::create_dir_all(&self.artifacts).unwrap();
                let png = self.artifacts.join(format!("{name}.png"));
                let html = self.artifacts.join(format!("{name}.html"));
                if let Ok(shot) = self.client.screenshot().await {
                    std::fs::write(&png, shot).unwrap();
                }
                if let Ok(source) = self.client.source().await {
                    std::fs::write(&html, source).unwrap();
                }
                // The browser is closed before the test ends (no Chromium left running).
                let _ = self.client.clone().close().await;
                panic!(
                    "{scenario}, {step}: {failure}\n(screenshot and page source: {} and {})",
                    png.display(),
                    html.display()
                )
            }
        }
    }
}

fn selection_in(dir: &tempfile::TempDir) -> LabSelection {
    let lab_file = Some(dir.path().join(LAB_FILE));
    select(&Choice {
        lab_file,
        ..Choice::default()
    })
    .unwrap()
}

/// The CCC service `name`.
fn service(selection: &LabSelection, name: &str) -> Step<hsmsim::lab::ccc::CccService> {
    said(ccc::ccc_services(selection), "CCC's services")?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no service {name} in CCC"))
}

fn partition(text: &str) -> PartitionId {
    PartitionId::parse(text).unwrap()
}

/// The labels of the objects on `partition`, as the store keeps them.
fn labels(selection: &LabSelection, partition: &PartitionId) -> Vec<String> {
    let mut labels: Vec<String> = open_store(selection)
        .unwrap()
        .objects(partition)
        .unwrap()
        .iter()
        .map(|o| {
            String::from_utf8_lossy(o.public.bytes(CKA_LABEL).unwrap_or_default()).into_owned()
        })
        .collect();
    labels.sort();
    labels
}

/// Generates the AES key "payments-aes" and the generic secret "payments-mac" on the source
/// partition sa6-ppso/payments, as its Crypto Officer (a client of the CCC server's host;
/// `crypto_officer`: its password, or on PED its activated challenge).
fn source_objects(selection: &LabSelection, crypto_officer: &str) {
    let config = selection
        .lab
        .config(Some("ccc-server"), selection.state_dir.clone())
        .unwrap();
    let engine = Engine::open(&config).unwrap();
    let session = engine
        .open_session(PAYMENTS_SLOT, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    engine
        .login(session, CKU_USER, crypto_officer.as_bytes())
        .unwrap();
    for (mechanism, label, length) in [
        (CKM_AES_KEY_GEN, "payments-aes", 32),
        (CKM_GENERIC_SECRET_KEY_GEN, "payments-mac", 64),
    ] {
        let mut template = Attributes::new();
        template.set_bool(CKA_TOKEN, true);
        template.set_bool(CKA_SIGN, true);
        template.set_ulong(CKA_VALUE_LEN, length);
        template.set_bytes(CKA_LABEL, label.as_bytes().to_vec());
        engine
            .generate_key(session, &Mechanism::new(mechanism), &template)
            .unwrap();
    }
    engine.close_everything();
}

/// A ChromeDriver session on headless Chromium (flags for a closed network: no background
/// connections, a fresh profile).
async fn browser(webdriver: &str, profile: &std::path::Path) -> Client {
    let binary = std::env::var("HSMSIM_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_string());
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": binary,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,1024",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(webdriver)
        .await
        .unwrap_or_else(|e| panic!("no WebDriver session at {webdriver}: {e}"))
}

/// A CCC server over the lab of `dir` (in-process, on 127.0.0.1:0) and a browser on its
/// console.
struct Harness {
    runtime: tokio::runtime::Runtime,
    console: Console,
    server: RunningServer,
    _profile: tempfile::TempDir,
}

impl Harness {
    fn open(dir: &tempfile::TempDir) -> Harness {
        let webdriver = std::env::var(WEBDRIVER_VARIABLE).unwrap_or_else(|_| {
            panic!("{WEBDRIVER_VARIABLE} must name ChromeDriver's URL (.ci/browser.sh sets it)")
        });
        let server = start(
            selection_in(dir),
            ServeOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
            },
        )
        .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = runtime.block_on(browser(&webdriver, profile.path()));
        let console = Console {
            client,
            base: format!("http://{}", server.local_addr()),
            artifacts: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap()
                .join("target/ccc-browser-artifacts"),
        };
        Harness {
            runtime,
            console,
            server,
            _profile: profile,
        }
    }

    /// Ends the browser session, then the server.
    fn close(self) {
        self.runtime.block_on(self.console.client.close()).unwrap();
        drop(self.server);
    }
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: .ci/browser.sh runs it"]
fn the_console_is_driven_through_import_templates_create_and_migrate_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let lab_text = hsmsim::lab::built_in_text("luna-ccc").unwrap();
    std::fs::write(dir.path().join(LAB_FILE), lab_text).unwrap();
    let selection = selection_in(&dir);
    ccc::set_ccc_user_password(&selection, ADMIN.0, ADMIN.1).unwrap();
    source_objects(&selection, PAYMENTS_CO);
    let harness = Harness::open(&dir);
    harness
        .runtime
        .block_on(scenarios(&harness.console, &selection));
    harness.close();
}

/// The seed's browser case: a 6.x PPSO PED service ("payments", managed by CCC from the start
/// in the fixture's PED variant, its crypto officer given a challenge and activated as
/// LunaSH's `partition createchallenge` and `partition activate` do) migrated to two 7.x PED
/// devices through the Migrate Service wizard: no cloning domain or security officer
/// challenge asked (the PED keys carry them), the crypto officer's challenge.
#[test]
#[ignore = "needs Chromium and ChromeDriver: .ci/browser.sh runs it"]
fn a_ppso_ped_service_is_migrated_to_two_7x_ped_devices_in_a_browser() {
    let (dir, selection) = fixture::ped_lab();
    ccc::set_ccc_user_password(&selection, ADMIN.0, ADMIN.1).unwrap();
    fixture::activate(&selection, "sa6-ppso/payments", Some(PED_CHALLENGE));
    source_objects(&selection, PED_CHALLENGE);
    let harness = Harness::open(&dir);
    harness.runtime.block_on(async {
        let c = &harness.console;
        let answers = Answers {
            cloning_domain: "",
            security_officer: "",
            crypto_officer: PED_CHALLENGE,
        };
        c.passed("ped-migrate", "log-in", log_in(c).await).await;
        migrate_payments(c, &selection, "ped-migrate", &answers).await;
        c.passed(
            "ped-migrate",
            "activated",
            ped_service_activated(c, &selection).await,
        )
        .await;
    });
    harness.close();
}

/// The migrated PED service's crypto officer is activated (CCC cloned as it), on the page and
/// in CCC's state.
async fn ped_service_activated(c: &Console, sel: &LabSelection) -> Step {
    c.submit("#tab-general").await?;
    let shown = c.text("#service-activated").await?;
    check(shown == "true", || {
        format!("#service-activated shows {shown:?}")
    })?;
    let status = said(
        ccc::ccc_service_status(sel, "payments-7"),
        "payments-7's status",
    )?;
    check(status.activated && status.initialised, || {
        format!("payments-7's status: {status:?}")
    })?;
    let migrated = service(sel, "payments-7")?;
    let template = said(
        ccc::ccc_template(sel, &migrated.template),
        "payments-7's template",
    )?;
    check(
        template.authentication == hsmsim::models::luna::Auth::Ped,
        || format!("payments-7's template is not PED: {template:?}"),
    )
}

async fn scenarios(c: &Console, sel: &LabSelection) {
    c.passed("login", "log-in", log_in(c).await).await;
    c.passed(
        "import",
        "add-and-authorise-devices",
        authorise_devices(c, sel).await,
    )
    .await;
    c.passed("import", "edit-rows", import_rows(c, sel).await)
        .await;
    c.passed("import", "finish-imports", finish_imports(c, sel).await)
        .await;
    c.passed("templates", "add-template", add_template(c, sel).await)
        .await;
    c.passed("create-service", "wizard", create_service(c, sel).await)
        .await;
    c.passed(
        "create-service",
        "initialise",
        initialise_service(c, sel).await,
    )
    .await;
    c.passed(
        "refused-migration",
        "vault-to-7.4",
        refused_migration(c, sel).await,
    )
    .await;
    migrate_payments(c, sel, "migrate", &PASSWORD_ANSWERS).await;
}

/// The Migrate Service wizard from "payments" to "payments-7" on sa7-a/svc2 + sa7-b/svc2:
/// checked, started, followed to success, its objects copied (steps named `scenario-...`).
async fn migrate_payments(c: &Console, sel: &LabSelection, scenario: &str, answers: &Answers) {
    c.passed(scenario, "check", migration_checked(c, answers).await)
        .await;
    let progress = c
        .passed(scenario, "start", migration_started(c, answers).await)
        .await;
    c.passed(scenario, "progress", migration_followed(c, &progress).await)
        .await;
    c.passed(scenario, "objects", migrated_objects(c, sel).await)
        .await;
}

async fn log_in(c: &Console) -> Step {
    c.goto("/services").await?;
    c.on_page("Log in").await?;
    c.fill("#login-user", ADMIN.0).await?;
    c.fill("#login-password", ADMIN.1).await?;
    c.submit("#login-submit").await?;
    c.on_page("Services").await?;
    let user = c.text("#user").await?;
    check(user == "ccc-admin (Administrator, acme)", || {
        format!("#user shows {user:?}")
    })
}

/// The luna-ccc lab's devices and their HSM SO passwords.
const DEVICES: [(&str, &str); 5] = [
    ("sa6-legacy", "SO-legacy-2017"),
    ("sa6-ppso", "HSM-SO-sa6-ppso"),
    ("sa7-a", "HSM-SO-sa7-a"),
    ("sa7-b", "HSM-SO-sa7-b"),
    ("sa7-c", "HSM-SO-sa7-c"),
];

async fn authorise_devices(c: &Console, sel: &LabSelection) -> Step {
    c.submit("#nav-devices").await?;
    c.on_page("Devices").await?;
    for (device, password) in DEVICES {
        c.fill("#add-device-form input[name=device]", device)
            .await?;
        c.submit("#add-device-submit").await?;
        c.no_error().await?;
        let row = format!("tr.device[data-device=\"{device}\"]");
        let shown = c.text(&format!("{row} .device-authorised")).await?;
        check(shown == "not authorised", || {
            format!("{device} added: {shown:?}")
        })?;
        c.fill(
            &format!("{row} .authorise-form input[name=password]"),
            password,
        )
        .await?;
        c.submit(&format!("{row} .authorise-form button")).await?;
        c.no_error().await?;
        let shown = c.text(&format!("{row} .device-authorised")).await?;
        check(shown == "authorised", || {
            format!("{device} authorised: {shown:?}")
        })?;
    }
    let devices = said(ccc::ccc_devices(sel), "CCC's devices")?;
    check(
        devices.len() == DEVICES.len() && devices.iter().all(|d| d.authorised),
        || format!("CCC's devices: {devices:?}"),
    )
}

/// The import table's rows as edited: partition, HA group label, service name.
const IMPORTS: [(&str, &str, &str); 5] = [
    ("sa6-legacy/legacy", "", "legacy-pki"),
    ("sa6-ppso/payments", "", "payments"),
    ("sa7-c/vault", "", "vault"),
    ("sa7-a/web1", "web-ha", "web"),
    ("sa7-b/web2", "web-ha", "web"),
];

async fn import_rows(c: &Console, sel: &LabSelection) -> Step {
    c.submit("#nav-import").await?;
    c.on_page("Import Partitions").await?;
    c.submit("#get-started").await?;
    c.no_error().await?;
    c.find("#import-table").await?;
    for (partition, ha_group, service) in IMPORTS {
        let row = format!("tr.import-row[data-partition=\"{partition}\"]");
        c.fill(&format!("{row} input[name=ha_group]"), ha_group)
            .await?;
        c.fill(&format!("{row} input[name=service_name]"), service)
            .await?;
        c.choose(&format!("{row} select[name=organisation]"), "acme")
            .await?;
        c.submit(&format!("{row} .save-row")).await?;
        c.no_error().await?;
        c.find("#import-table").await?;
    }
    let table =
        said(ccc::ccc_import_table(sel), "the import table")?.ok_or("no import table saved")?;
    for (partition_name, ha_group, service) in IMPORTS {
        let row = table
            .rows
            .iter()
            .find(|r| r.partition == partition(partition_name))
            .ok_or_else(|| format!("no row {partition_name}: {table:?}"))?;
        check(
            row.ha_group == ha_group && row.service_name == service && row.organisation == "acme",
            || format!("row {partition_name} saved as {row:?}"),
        )?;
    }
    Ok(())
}

async fn finish_imports(c: &Console, sel: &LabSelection) -> Step {
    c.submit("#finish-imports").await?;
    c.no_error().await?;
    c.submit("#nav-services").await?;
    c.on_page("Services").await?;
    for (name, ha) in [
        ("legacy-pki", "standalone"),
        ("payments", "standalone"),
        ("vault", "standalone"),
        ("web", "HA"),
    ] {
        let row = format!("tr.service[data-service=\"{name}\"]");
        let shown = c.text(&format!("{row} .service-ha")).await?;
        check(shown == ha, || {
            format!("service {name}: {shown:?}, expected {ha}")
        })?;
        let organisation = c.text(&format!("{row} .service-organisation")).await?;
        check(organisation == "acme", || {
            format!("service {name}'s organisation {organisation:?}")
        })?;
    }
    let services = said(ccc::ccc_services(sel), "CCC's services")?;
    let mut names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    check(names == ["legacy-pki", "payments", "vault", "web"], || {
        format!("CCC's services: {names:?}")
    })?;
    let web = services.iter().find(|s| s.name == "web").unwrap();
    check(
        web.partitions == [partition("sa7-a/web1"), partition("sa7-b/web2")],
        || format!("web's partitions: {:?}", web.partitions),
    )?;
    let table = said(ccc::ccc_import_table(sel), "the import table")?;
    check(table.is_none(), || {
        format!("the import table is left: {table:?}")
    })
}

const NEW_TEMPLATE: &str = "ha-password-7-large";

async fn add_template(c: &Console, sel: &LabSelection) -> Step {
    c.submit("#nav-templates").await?;
    c.on_page("Service Templates").await?;
    let form = "#add-template-form";
    c.fill_in(
        form,
        &[
            ("name", NEW_TEMPLATE),
            ("description", "large HA services on 7.x"),
            ("partition_size", "200000"),
        ],
    )
    .await?;
    c.choose(
        &format!("{form} select[name=service_type]"),
        "hsm-partition-ha-group",
    )
    .await?;
    c.choose(&format!("{form} select[name=authentication]"), "password")
        .await?;
    c.submit("#add-template-submit").await?;
    c.no_error().await?;
    c.find(&format!("tr.template[data-template=\"{NEW_TEMPLATE}\"]"))
        .await?;
    let template = said(ccc::ccc_template(sel, NEW_TEMPLATE), "the new template")?;
    check(
        template.partition_size == 200_000
            && template.service_type == hsmsim::lab::schema::CccServiceType::HsmPartitionHaGroup
            && template.authentication == hsmsim::models::luna::Auth::Password
            && template.per_partition_so,
        || format!("the template saved: {template:?}"),
    )
}

async fn create_service(c: &Console, sel: &LabSelection) -> Step {
    c.submit("#nav-create-service").await?;
    c.on_page("Create Service").await?;
    c.fill("#step-general input[name=name]", "web-7").await?;
    c.fill(
        "#step-general input[name=description]",
        "the new web front end",
    )
    .await?;
    c.click(&format!("#template-{NEW_TEMPLATE}")).await?;
    c.click("#partition-sa7-a-svc1").await?;
    c.click("#partition-sa7-b-svc1").await?;
    c.choose("#step-organisation select[name=organisation]", "acme")
        .await?;
    c.submit("#create-service-submit").await?;
    c.on_page("Service web-7").await?;
    let ha = c.text("#service-ha").await?;
    let initialised = c.text("#service-initialised").await?;
    check(ha == "HA" && initialised == "not initialised", || {
        format!("web-7 shows {ha:?}, {initialised:?}")
    })?;
    let web7 = service(sel, "web-7")?;
    check(
        web7.template == NEW_TEMPLATE
            && web7.organisation == "acme"
            && web7.partitions == [partition("sa7-a/svc1"), partition("sa7-b/svc1")],
        || format!("web-7 in CCC: {web7:?}"),
    )
}

async fn initialise_service(c: &Console, sel: &LabSelection) -> Step {
    c.fill_in(
        "#initialise-form",
        &[
            ("partition_label", "web-7"),
            ("cloning_domain", DOMAIN),
            ("partition_so_password", "PO-web7-2026"),
            ("crypto_officer_password", "CO-web7-2026"),
        ],
    )
    .await?;
    c.submit("#initialise-submit").await?;
    c.no_error().await?;
    c.on_page("Service web-7").await?;
    let initialised = c.text("#service-initialised").await?;
    check(initialised == "initialised", || {
        format!("web-7 shows {initialised:?}")
    })?;
    let status = said(ccc::ccc_service_status(sel, "web-7"), "web-7's status")?;
    check(
        status.initialised && status.uninitialised_partitions.is_empty(),
        || format!("web-7's status: {status:?}"),
    )
}

/// The Migrate Service wizard's Define Partition and Initialize Roles answers.
struct Answers {
    cloning_domain: &'static str,
    security_officer: &'static str,
    crypto_officer: &'static str,
}

/// "payments" on password devices: the source's cloning domain and role passwords.
const PASSWORD_ANSWERS: Answers = Answers {
    cloning_domain: DOMAIN,
    security_officer: PAYMENTS_PO,
    crypto_officer: PAYMENTS_CO,
};

/// Fills the Migrate Service wizard (the challenges included: the page does not send
/// passwords back).
async fn fill_migration(
    c: &Console,
    source: &str,
    name: &str,
    targets: &[&str],
    answers: &Answers,
) -> Step {
    c.choose("#step-select-service select[name=source_service]", source)
        .await?;
    // Every target of these tests is a 7.4 device.
    c.choose("#step-new-service select[name=hsm_model]", "network-hsm-7")
        .await?;
    c.choose("#step-new-service select[name=organisation]", "acme")
        .await?;
    for target in targets {
        let checkbox = c
            .find(&format!("#target-{}", target.replace('/', "-")))
            .await?;
        let checked = said(checkbox.prop("checked").await, "reading a target")?;
        if checked.as_deref() != Some("true") {
            said(checkbox.click().await, "choosing a target")?;
        }
    }
    c.fill_in(
        "#migrate-form",
        &[
            ("name", name),
            ("partition_size", "100000"),
            ("partition_label", name),
            ("cloning_domain", answers.cloning_domain),
            ("security_officer_challenge", answers.security_officer),
            ("crypto_officer_challenge", answers.crypto_officer),
        ],
    )
    .await
}

async fn refused_migration(c: &Console, sel: &LabSelection) -> Step {
    c.submit("#nav-migrate").await?;
    c.on_page("Migrate Service").await?;
    fill_migration(
        c,
        "vault",
        "vault-7",
        &["sa7-a/svc2", "sa7-b/svc2"],
        &Answers {
            cloning_domain: DOMAIN,
            security_officer: "PO-vault-2025",
            crypto_officer: "CO-vault-2025",
        },
    )
    .await?;
    c.submit("#migrate-start").await?;
    let error = c.text("#error").await?;
    check(
        error.contains(hsmsim::models::ccc::FIRMWARE_REFUSAL),
        || format!("#error shows {error:?}"),
    )?;
    c.on_page("Migrate Service").await?;
    let migrations = said(ccc::ccc_migrations(sel), "CCC's migrations")?;
    let services = said(ccc::ccc_services(sel), "CCC's services")?;
    check(
        migrations.is_empty() && !services.iter().any(|s| s.name == "vault-7"),
        || format!("a refused migration left {migrations:?}"),
    )
}

const MIGRATION_TARGETS: [&str; 2] = ["sa7-a/svc2", "sa7-b/svc2"];

async fn migration_checked(c: &Console, answers: &Answers) -> Step {
    c.submit("#nav-migrate").await?;
    c.on_page("Migrate Service").await?;
    fill_migration(c, "payments", "payments-7", &MIGRATION_TARGETS, answers).await?;
    c.submit("#migrate-check").await?;
    c.no_error().await?;
    let summary = c.text("#summary").await?;
    check(summary.contains("CCC accepts this migration"), || {
        format!("#summary shows {summary:?}")
    })
}

/// Starts the checked migration: the progress page's path.
async fn migration_started(c: &Console, answers: &Answers) -> Step<String> {
    // The Summary page keeps the answers but not the challenges.
    fill_migration(c, "payments", "payments-7", &MIGRATION_TARGETS, answers).await?;
    c.submit("#migrate-start").await?;
    c.find("#migration-state").await?;
    let url = said(c.client.current_url().await, "the page's address")?;
    check(url.path().starts_with("/migrations/"), || {
        format!("led to {url}")
    })?;
    Ok(url.path().to_string())
}

/// Follows the progress page (it refreshes itself while the run goes on) until it ends.
async fn migration_followed(c: &Console, progress: &str) -> Step {
    let since = Instant::now();
    let state = loop {
        // The page may be reloading: a missing element is read again.
        let state = c.client.find(Locator::Css("#migration-state")).await.ok();
        let state = match state {
            Some(element) => element.text().await.unwrap_or_default(),
            None => String::new(),
        };
        if state == "succeeded" || state == "failed" {
            break state;
        }
        check(since.elapsed() < PATIENCE, || {
            format!("the migration at {progress} still shows {state:?}")
        })?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let error = c.texts("#migration-error").await?;
    check(state == "succeeded", || {
        format!("the migration {state}: {error:?}")
    })?;
    let lines = c.texts("#migration-progress li").await?;
    check(!lines.is_empty(), || "no progress shown".to_string())
}

async fn migrated_objects(c: &Console, sel: &LabSelection) -> Step {
    let migrations = said(ccc::ccc_migrations(sel), "CCC's migrations")?;
    check(
        migrations.len() == 1 && migrations[0].state == MigrationState::Succeeded,
        || format!("CCC's migrations: {migrations:?}"),
    )?;
    let migrated = service(sel, "payments-7")?;
    let targets: Vec<PartitionId> = MIGRATION_TARGETS.iter().map(|p| partition(p)).collect();
    check(migrated.partitions == targets, || {
        format!("payments-7's partitions: {:?}", migrated.partitions)
    })?;
    let source = labels(sel, &partition("sa6-ppso/payments"));
    check(source == ["payments-aes", "payments-mac"], || {
        format!("the source holds {source:?}")
    })?;
    for target in &targets {
        let held = labels(sel, target);
        check(held == source, || {
            format!("{target} holds {held:?}, the source {source:?}")
        })?;
    }
    // The new service's page lists the copied keys.
    c.submit("#nav-services").await?;
    c.submit("tr.service[data-service=\"payments-7\"] .service-name a")
        .await?;
    c.on_page("Service payments-7").await?;
    c.submit("#tab-keys").await?;
    c.find("#keys").await?;
    let mut keys = c.texts("#keys tr.key td:first-child").await?;
    keys.sort();
    check(keys == source, || format!("the Keys tab lists {keys:?}"))
}
