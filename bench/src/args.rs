//! The command line: a subcommand and `--name value` (or `--name=value`) options.

pub(crate) const USAGE: &str = "\
usage: bench [queue|delivery|all|usage|ingest|cch|frontend] [options]  (default: all = queue + delivery)

  queue      no-op jobs through the delivery queue, beside a bare Redis list and BullMQ 5 (node,
             bench/bullmq) doing the same flow in the same run
  delivery   latency from raising a notification to its arrival at a local webhook receiver
  usage      leaderboard and cost check over 10 M usage rows (rollups vs naive GROUP BY), ingest
             rate; takes several minutes (bulk load)
  ingest     the same events through POST /api/v1/usage and POST /api/v1/ingest/litellm (LiteLLM's
             payloads), over HTTP, side by side per round; writes its section of bench/RESULTS.md
  cch        the Claude Code Hub tail against a CCH database written as CCH writes it: the rows/s
             it catches up with, and the lag of a live gateway's requests; writes its section of bench/RESULTS.md
  frontend   the release site: file sizes (raw, gzip, brotli), what a first visit to 消息推送
             downloads in Chromium, server-side render time on a kept-alive connection beside
             /healthz (scripts/bench frontend builds the site first when an input changed)

queue options:
  --jobs N           jobs per run (20000)
  --runs N           measured runs per side after one warm-up; the best is reported (3)
  --producers N      tasks enqueueing at once, through the shared pool (8)
  --workers N        workers, each with its own blocking connection (4)
  --concurrency N    jobs in flight per worker (32)
  --pool N           connections of the shared pool (4)
  --no-bullmq        leave out the BullMQ side (it needs node and `npm ci` in bench/bullmq,
                     which scripts/bench runs)
delivery options:
  --notifications N  notifications per phase (2000)
  --rate N           raised per second in the steady phase (500)
  --raisers N        tasks raising at once in the as-fast-as-possible phase (8)
  --delivery-concurrency N
                     webhook calls in flight, as DELIVERY_CONCURRENCY (8)
usage options:
  --rows N           usage rows (10000000)
  --users N          users, all with quotas (10000)
ingest options:
  --events N         events per route and round (102400), in batches of 512
  --runs N           measured rounds after one warm-up (3)
cch options:
  --backlog N        finished requests waiting when the tail starts (100000)
  --rate N           requests a second in the live phase (1000; also the delivery option)
  --seconds N        length of the live phase (30)
frontend options:
  --requests N       timed requests per measure (500)

environment: REDIS_URL (redis://127.0.0.1:6379/0),
             BENCH_DATABASE_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres),
             BENCH_BULLMQ_DIR (bench/bullmq of this checkout)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Queue,
    Delivery,
    All,
    Usage,
    Ingest,
    Cch,
    Frontend,
}

impl Command {
    pub(crate) fn queue(self) -> bool {
        matches!(self, Command::Queue | Command::All)
    }
    pub(crate) fn delivery(self) -> bool {
        matches!(self, Command::Delivery | Command::All)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct QueueSetup {
    pub jobs: usize,
    pub runs: usize,
    pub producers: usize,
    pub workers: usize,
    pub concurrency: usize,
    pub pool_size: usize,
    /// Run the BullMQ side too.
    pub bullmq: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct DeliverySetup {
    pub notifications: usize,
    pub rate: u32,
    pub raisers: usize,
    pub concurrency: usize,
}

#[derive(Clone, Debug)]
pub(crate) struct Args {
    pub command: Command,
    pub queue: QueueSetup,
    pub delivery: DeliverySetup,
    pub usage: crate::usage::UsageSetup,
    pub ingest: crate::ingest::IngestSetup,
    pub cch: crate::cch::CchSetup,
    pub frontend: crate::frontend::FrontendSetup,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            command: Command::All,
            queue: QueueSetup {
                jobs: 20_000,
                runs: 3,
                producers: 8,
                // Several workers, as several server processes would run, each with its own
                // blocking connection (and BullMQ its 4 Workers).
                workers: 4,
                concurrency: 32,
                // The server's REDIS_POOL_SIZE default.
                pool_size: 4,
                bullmq: true,
            },
            delivery: DeliverySetup {
                notifications: 2_000,
                rate: 500,
                raisers: 8,
                // The server's DELIVERY_CONCURRENCY default.
                concurrency: 8,
            },
            usage: crate::usage::UsageSetup::default(),
            ingest: crate::ingest::IngestSetup::default(),
            cch: crate::cch::CchSetup::default(),
            frontend: crate::frontend::FrontendSetup::default(),
        }
    }
}

/// `Ok(None)` means help was asked for.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args::default();
    let mut command = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        if arg == "--no-bullmq" {
            parsed.queue.bullmq = false;
            continue;
        }
        let Some(option) = arg.strip_prefix("--") else {
            if command.is_some() {
                return Err(format!("unexpected argument {arg:?}"));
            }
            command = Some(match arg.as_str() {
                "queue" => Command::Queue,
                "delivery" => Command::Delivery,
                "all" => Command::All,
                "usage" => Command::Usage,
                "ingest" => Command::Ingest,
                "cch" => Command::Cch,
                "frontend" => Command::Frontend,
                _ => return Err(format!("unknown command {arg:?}")),
            });
            continue;
        };
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = args.next().ok_or_else(|| format!("--{option} needs a value"))?;
                (option.to_owned(), value)
            }
        };
        let number = || -> Result<usize, String> {
            match value.replace('_', "").parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("--{name} must be a positive whole number, got {value:?}")),
            }
        };
        let q = &mut parsed.queue;
        let d = &mut parsed.delivery;
        match name.as_str() {
            "jobs" => q.jobs = number()?,
            "runs" => {
                q.runs = number()?;
                parsed.ingest.runs = q.runs;
            }
            "events" => parsed.ingest.events = number()?,
            "producers" => q.producers = number()?,
            "workers" => q.workers = number()?,
            "concurrency" => q.concurrency = number()?,
            "pool" => q.pool_size = number()?,
            "notifications" => d.notifications = number()?,
            "rate" => {
                parsed.cch.rate = number()?;
                d.rate = u32::try_from(parsed.cch.rate).map_err(|_| format!("--rate {value} is too large"))?;
            }
            "backlog" => parsed.cch.backlog = number()?,
            "seconds" => parsed.cch.seconds = number()?,
            "raisers" => d.raisers = number()?,
            "delivery-concurrency" => d.concurrency = number()?,
            "rows" => parsed.usage.rows = i64::try_from(number()?).map_err(|_| "--rows is too large".to_owned())?,
            "users" => parsed.usage.users = i64::try_from(number()?).map_err(|_| "--users is too large".to_owned())?,
            "requests" => parsed.frontend.requests = number()?,
            _ => return Err(format!("unknown option --{name}")),
        }
    }
    parsed.command = command.unwrap_or(Command::All);
    Ok(Some(parsed))
}
