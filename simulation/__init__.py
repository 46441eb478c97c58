"""`voucher demo`: fill an empty database with a realistic simulated budget year (PRODUCT.md §6).

Everything goes through the same service functions the API calls, one transaction per logical
step (a registry import, an application, the bureau's review of the day's applications, a
provider's invoice batch, a provider's weekly payment run, an enterprise's monthly redemption
session, a settlement step), each an audited unit of work through `service.uow.run_write`, the
runner every HTTP write uses. The principals are the bureau (admin) and each provider and
enterprise (bound to their own id); no API keys are created. Redemptions and payments go
through the services' grouped write paths (`redeem_group`, `pay_group`) as batches of one
inside the step's transaction (`service.uow.group_of_one`).

This package sits beside `service/`, not inside it: the production service never imports it
(`voucher demo` loads it when the command runs). Its modules, one responsibility each:
catalogue (names, products, prices, seasons), days (business days, the simulated clock), state
(the plan's records, the event queue, one audited write per step), plan (parties and invoices),
schedule (when each event happens), parties, applications, invoices, redemptions and
settlements (what each event does on its day), runner (`run_demo`) and summary (the figures).

The simulation walks the business calendar from the first working day of January up to today
(the current year, the default) or to 31 December (a past year; a year after today is refused),
so nothing it writes is dated after today and the console's "data as of" is true. While it
runs, `service.clock.now` returns the simulated instant (restored afterwards; never later than
the real now), so application windows, voucher validity, redemption deadlines and every
created_at timestamp follow the simulated months. Business dates the services take as arguments
(issue dates, service periods, payment dates, settlement cutoffs) are passed explicitly.

What the year looks like:
- the default policy (20 million yuan pool, 30 %, 2 million yuan cap, reimbursement mode);
- Dalian enterprises and institutions with valid USCCs, most applying in Q1, a few approved
  for less than requested, a few rejected, a few vouchers issued directly by the bureau,
  supplementary applications from enterprises that use up their voucher (approved as far as the
  pool and the enterprise cap allow), and a few late applications still waiting for review;
- compute providers on the approved list (one added in spring, one never approved), a few
  related-party pairs and claims under other programmes (就高不重复) whose invoices are never
  subsidised;
- invoices rising month by month to a Q4 peak (today's month only for the days so far), mostly
  GPU/NPU/accelerator lines with some storage, network, security and CPU lines, prepaid and
  postpaid, quarterly packages, a few service periods crossing into or out of the year, a few
  legacy VAT invoices;
- payments recorded in weekly runs (most in full, some partially, a few never), redemptions
  after payment, red-letter reversals before payment, before settlement and after settlement
  (clawbacks), one credit block with its vouchers revoked and one voucher revoked when a project
  stopped;
- forty days before the end the bureau lowers the review threshold (to 30), so some of the
  last redemptions are held for review and the review queue has open cases;
- two settlement batches: cutoff 30 June, approved and paid; and the last month end that leaves
  a week before the end (30 November for a run on 7 December or a past year), created and still
  waiting in the review chain.

The run is deterministic for a seed: the same seed and year give the same figures (ids and
voucher codes are random, as the service makes them). It refuses a database that already holds
a budget year, an enterprise or a provider; a run that fails half-way leaves what it wrote, so
start again from a fresh database. Because it replaces the process-wide clock while it runs,
do not run it inside a process that is serving requests.
"""

from simulation.runner import DatabaseNotEmpty, default_year, run_demo
from simulation.summary import summary

__all__ = ["DatabaseNotEmpty", "default_year", "run_demo", "summary"]
