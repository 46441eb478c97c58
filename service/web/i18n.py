"""Page text in Simplified Chinese (the default) and English, and API error codes in words."""

from typing import Any

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
COOKIE = "cv_lang"

# key: (zh-CN, en)
MESSAGES: dict[str, tuple[str, str]] = {
    # chrome
    "app.title": ("算力券管理平台", "Compute Voucher Platform"),
    "app.bureau": ("大连市数据局", "Dalian Municipal Data Bureau"),
    "app.skip": ("跳到正文", "Skip to content"),
    "nav.dashboard": ("预算总览", "Budget overview"),
    "nav.applications": ("申领审核", "Applications"),
    "nav.vouchers": ("算力券", "Vouchers"),
    "nav.invoices": ("发票", "Invoices"),
    "nav.redemptions": ("核销记录", "Redemptions"),
    "nav.settlements": ("结算拨付", "Settlements"),
    "nav.reconciliation": ("对账", "Reconciliation"),
    "nav.audit": ("审计日志", "Audit log"),
    "nav.year": ("年度政策", "Year policy"),
    "nav.my_vouchers": ("我的算力券", "My vouchers"),
    "nav.my_redemptions": ("核销历史", "Redemption history"),
    "nav.apply": ("申领算力券", "Apply for a voucher"),
    "nav.my_invoices": ("我的发票", "My invoices"),
    "nav.upload": ("批量上传发票", "Upload invoices"),
    "nav.statements": ("结算对账单", "Settlement statements"),
    "nav.signout": ("退出登录", "Sign out"),
    "nav.language": ("语言", "Language"),
    "nav.menu": ("主菜单", "Main menu"),
    "role.admin": ("市数据局 · 管理员", "Bureau · administrator"),
    "role.auditor": ("市数据局 · 审计员", "Bureau · auditor"),
    "role.enterprise": ("企事业单位", "Enterprise"),
    "role.provider": ("算力服务商", "Compute provider"),
    # sign-in
    "login.title": ("登录", "Sign in"),
    "login.lead": ("使用市数据局发放的 API 密钥登录。密钥只保存在服务器端会话中。",
                   "Sign in with the API key the data bureau gave you. The key is kept only in "
                   "a server-side session."),
    "login.key": ("API 密钥", "API key"),
    "login.key_hint": ("以 cvk_ 开头的密钥", "The key starting with cvk_"),
    "login.submit": ("登录", "Sign in"),
    "login.bad_key": ("密钥无效、已吊销或已过期。请核对后重试，或联系市数据局。",
                      "The key is not valid, has been revoked or has expired. Check it, or ask "
                      "the data bureau."),
    "login.expired": ("会话已过期，请重新登录。",
                      "Your session has expired. Please sign in again."),
    "login.signed_out": ("您已安全退出。", "You have signed out."),
    "login.throttled": ("失败次数过多，请稍后再试。", "Too many failed attempts. Try again later."),
    # common
    "common.year": ("年度", "Year"),
    "common.status": ("状态", "Status"),
    "common.all": ("全部", "All"),
    "common.filter": ("筛选", "Filter"),
    "common.reset": ("重置", "Reset"),
    "common.next": ("下一页", "Next page"),
    "common.first": ("第一页", "First page"),
    "common.amount": ("金额（元）", "Amount (yuan)"),
    "common.enterprise": ("企业", "Enterprise"),
    "common.provider": ("服务商", "Provider"),
    "common.actions": ("操作", "Actions"),
    "common.created": ("创建时间", "Created"),
    "common.none": ("—", "—"),
    "common.yuan": ("元", "yuan"),
    "common.id": ("编号", "ID"),
    "common.reason": ("理由", "Reason"),
    "common.submit": ("提交", "Submit"),
    "common.cancel": ("取消", "Cancel"),
    "common.details": ("详情", "Details"),
    "common.back": ("返回", "Back"),
    "common.read_only": ("审计员为只读角色，不能执行此操作。",
                         "Auditors have read-only access and cannot do this."),
    "common.error_title": ("操作未完成", "That did not go through"),
    "common.success_title": ("操作成功", "Done"),
    "common.row": ("第 {row} 行", "Row {row}"),
    "common.days": ("{n} 天", "{n} days"),
    "common.uscc": ("统一社会信用代码", "USCC"),
    # statuses
    "status.submitted": ("待审核", "Submitted"),
    "status.approved": ("已批准", "Approved"),
    "status.rejected": ("已驳回", "Rejected"),
    "status.active": ("可用", "Active"),
    "status.exhausted": ("已用完", "Exhausted"),
    "status.expired": ("已过期", "Expired"),
    "status.revoked": ("已吊销", "Revoked"),
    "status.unpaid": ("未付款", "Unpaid"),
    "status.partially_paid": ("部分付款", "Partially paid"),
    "status.paid": ("已付款", "Paid"),
    "status.reversed": ("已红冲", "Reversed"),
    "status.pending": ("待付款确认", "Pending payment"),
    "status.payable": ("待拨付", "Payable"),
    "status.settling": ("结算中", "In settlement"),
    "status.draft": ("草稿", "Draft"),
    "status.open": ("进行中", "Open"),
    "status.closed": ("已关账", "Closed"),
    # dashboard
    "dash.title": ("{year} 年度预算总览", "Budget overview {year}"),
    "dash.pool": ("资金池", "Pool"),
    "dash.issued": ("已发放", "Issued"),
    "dash.outstanding": ("未使用余额", "Outstanding"),
    "dash.redeemed": ("已核销", "Redeemed"),
    "dash.payable": ("待拨付", "Payable"),
    "dash.paid": ("已拨付", "Paid out"),
    "dash.available": ("可发放", "Available"),
    "dash.utilisation": ("发放率", "Utilisation"),
    "dash.returned": ("已退回", "Returned"),
    "dash.clawback": ("已追回", "Clawed back"),
    "dash.projection": ("年末核销预测", "Year-end projection"),
    "dash.projection_note": ("按当前核销速度推算，不超过已发放额度",
                             "At the burn rate so far, capped at what has been issued"),
    "dash.burndown": ("预算消耗（剩余额度 vs 直线目标）",
                      "Burn-down (remaining vs straight-line target)"),
    "dash.remaining": ("剩余额度", "Remaining"),
    "dash.target": ("直线目标", "Straight-line target"),
    "dash.projected": ("预测", "Projected"),
    "dash.monthly": ("月度发放 / 核销 / 拨付", "Monthly issued / redeemed / paid"),
    "dash.top_enterprises": ("核销额前十企业", "Top enterprises by redemption"),
    "dash.top_providers": ("核销额前十服务商", "Top providers by redemption"),
    "dash.by_category": ("按资源类别的补贴", "Subsidy by resource category"),
    "dash.no_year": ("{year} 年度尚未设立。请先在「年度政策」中设立该年度。",
                     "The year {year} has not been set up. Create it under Year policy first."),
    "dash.no_activity": ("本年度尚无核销。批准申领并由企业核销后，这里会显示图表。",
                         "No redemptions yet this year. Charts appear here once applications "
                         "are approved and enterprises redeem."),
    "dash.as_of": ("数据截至 {at}", "Figures as of {at}"),
    "dash.pending_apps": ("{n} 份申领待审核", "{n} applications waiting"),
    # applications
    "apps.title": ("申领审核", "Applications"),
    "apps.project": ("项目名称", "Project"),
    "apps.purpose": ("用途", "Purpose"),
    "apps.requested": ("申请金额（元）", "Requested (yuan)"),
    "apps.approved_amount": ("批准金额（元）", "Approved amount (yuan)"),
    "apps.approve": ("批准", "Approve"),
    "apps.reject": ("驳回", "Reject"),
    "apps.reject_reason": ("驳回理由", "Reason for rejection"),
    "apps.empty": ("没有待审核的申领。企业提交申领后会出现在这里。",
                   "No applications to review. They appear here when enterprises apply."),
    "apps.approved_msg": ("已批准，发放算力券 {code}，面值 {amount} 元。",
                          "Approved: voucher {code} issued for {amount} yuan."),
    "apps.rejected_msg": ("已驳回该申领。", "The application was rejected."),
    # vouchers
    "vouchers.title": ("算力券", "Vouchers"),
    "vouchers.code": ("券码", "Code"),
    "vouchers.face": ("面值（元）", "Face value (yuan)"),
    "vouchers.balance": ("余额（元）", "Balance (yuan)"),
    "vouchers.valid_until": ("有效期至", "Valid until"),
    "vouchers.days_left": ("剩余天数", "Days left"),
    "vouchers.empty": ("没有符合条件的算力券。批准申领或直接发放后会出现在这里。",
                       "No vouchers match. They appear when applications are approved."),
    "vouchers.my_empty": ("您还没有算力券。请先「申领算力券」，市数据局批准后即可使用。",
                          "You have no vouchers yet. Apply for one; once the bureau approves "
                          "it, it shows here."),
    "vouchers.total_balance": ("可用余额合计", "Total usable balance"),
    # invoices
    "invoices.title": ("发票", "Invoices"),
    "invoices.number": ("发票号码", "Invoice number"),
    "invoices.issued_on": ("开票日期", "Issued on"),
    "invoices.period": ("服务期间", "Service period"),
    "invoices.total": ("价税合计（元）", "Total (yuan)"),
    "invoices.paid": ("已付（元）", "Paid (yuan)"),
    "invoices.reversed": ("红冲（元）", "Reversed (yuan)"),
    "invoices.eligible": ("可得补贴（元）", "Eligible subsidy (yuan)"),
    "invoices.redeemable": ("现可核销（元）", "Redeemable now (yuan)"),
    "invoices.redeemed": ("已核销（元）", "Redeemed (yuan)"),
    "invoices.empty": ("没有符合条件的发票。服务商上传发票后会出现在这里。",
                       "No invoices match. They appear once providers post them."),
    "invoices.my_empty_ent": ("还没有开给贵单位的发票。请联系算力服务商上传发票。",
                              "No invoices to you yet. Ask your compute provider to post them."),
    "invoices.my_empty_prov": ("您还没有上传发票。请使用「批量上传发票」上传本月发票。",
                               "You have not posted any invoices yet. Use Upload invoices to "
                               "post this month's."),
    "invoices.lines": ("明细", "Lines"),
    "invoices.category": ("类别", "Category"),
    "invoices.description": ("项目", "Description"),
    # redeem
    "redeem.button": ("核销", "Redeem"),
    "redeem.voucher": ("使用的算力券", "Voucher to use"),
    "redeem.auto": ("自动选券（先到期先用）", "Automatic (earliest expiry)"),
    "redeem.done": ("核销成功：补贴 {amount} 元，来自算力券 {codes}。",
                    "Redeemed: a subsidy of {amount} yuan, drawn from voucher {codes}."),
    "redeem.nothing": ("无可核销金额", "Nothing to redeem"),
    "redeem.no_usable": ("没有可用的算力券：", "No usable voucher: "),
    "redeem.why.exhausted": ("{code} 已用完", "{code} is used up"),
    "redeem.why.expired": ("{code} 已过期", "{code} has expired"),
    "redeem.why.revoked": ("{code} 已吊销", "{code} was revoked"),
    "redeem.why.not_yet_valid": ("{code} 自 {day} 起可用", "{code} is valid from {day}"),
    "redeem.why.none": ("尚无 {year} 年度的算力券", "none for {year}"),
    "redeem.why.sep": ("；", "; "),
    "redeem.why.end": ("。", "."),
    "redemptions.title": ("核销记录", "Redemptions"),
    "redemptions.subsidy": ("补贴（元）", "Subsidy (yuan)"),
    "redemptions.net": ("净补贴（元）", "Net subsidy (yuan)"),
    "redemptions.clawed": ("追回（元）", "Clawed back (yuan)"),
    "redemptions.beneficiary": ("收款方", "Paid to"),
    "redemptions.invoice": ("发票", "Invoice"),
    "redemptions.empty": ("还没有核销记录。在「我的算力券」中对发票点击「核销」。",
                          "No redemptions yet. Redeem an invoice from My vouchers."),
    "redemptions.bureau_empty": ("没有符合条件的核销记录。", "No redemptions match."),
    # apply
    "apply.title": ("申领算力券", "Apply for a voucher"),
    "apply.lead": ("填写项目信息和申请金额。市数据局审核通过后，算力券会出现在「我的算力券」中。",
                   "Describe the project and the amount. Once the bureau approves, the voucher "
                   "appears under My vouchers."),
    "apply.amount": ("申请金额（元）", "Amount requested (yuan)"),
    "apply.submitted": ("申领已提交，等待市数据局审核。", "Submitted; waiting for the bureau."),
    "apply.mine": ("我的申领", "My applications"),
    "apply.none": ("您还没有提交过申领。", "You have not applied yet."),
    # provider
    "upload.title": ("批量上传发票", "Upload invoices"),
    "upload.lead": ("上传一个月的发票（CSV 或 XLSX）。每行一条发票明细，"
                    "同一发票号码的多行合并为一张发票。"
                    "逐行校验，任何一行有误则全部不保存。金额单位为元。",
                    "Upload a month of invoices (CSV or XLSX). One row per invoice line; rows "
                    "with the same invoice number form one invoice. Every row is checked; if any "
                    "row is wrong, nothing is saved. Amounts are in yuan."),
    "upload.file": ("发票文件", "Invoice file"),
    "upload.submit": ("校验并上传", "Check and upload"),
    "upload.columns": ("列（表头）", "Columns (header row)"),
    "upload.template": ("下载 CSV 模板", "Download a CSV template"),
    "upload.failed": ("文件有 {n} 处错误，未保存任何发票。请修改后重新上传。",
                      "The file has {n} errors; nothing was saved. Fix them and upload again."),
    "upload.saved": ("已保存 {n} 张发票，合计 {amount} 元。",
                     "Saved {n} invoices totalling {amount} yuan."),
    "upload.no_file": ("请选择一个 CSV 或 XLSX 文件。", "Choose a CSV or XLSX file."),
    "upload.bad_type": ("只接受 .csv 或 .xlsx 文件。", "Only .csv and .xlsx files are accepted."),
    "upload.empty_file": ("文件中没有数据行。", "The file has no data rows."),
    "upload.bad_header": ("缺少列：{cols}", "Missing columns: {cols}"),
    "upload.unreadable": ("无法读取该文件：{why}", "The file cannot be read: {why}"),
    "pay.title": ("登记收款", "Record a payment"),
    "pay.amount": ("收款金额（元）", "Amount received (yuan)"),
    "pay.date": ("收款日期", "Date received"),
    "pay.done": ("已登记收款 {amount} 元。", "Payment of {amount} yuan recorded."),
    "reverse.title": ("红字发票（红冲）", "Red-letter reversal"),
    "reverse.number": ("红字发票号码", "Red-letter invoice number"),
    "reverse.date": ("红字发票开票日期", "Red-letter issue date"),
    "reverse.amount": ("冲减金额（元）", "Amount taken off (yuan)"),
    "reverse.done": ("已红冲 {amount} 元。", "Reversal of {amount} yuan posted."),
    "statements.title": ("结算对账单", "Settlement statements"),
    "statements.settlement": ("结算批次", "Settlement batch"),
    "statements.unsettled": ("尚未结算", "Not yet settled"),
    "statements.count": ("核销笔数", "Redemptions"),
    "statements.empty": ("还没有与您相关的核销。企业核销您开具的发票后会出现在这里。",
                         "No redemptions involve you yet. They appear once enterprises redeem "
                         "your invoices."),
    # settlements
    "settle.title": ("结算拨付", "Settlements"),
    "settle.create": ("生成结算批次", "Create a settlement batch"),
    "settle.create_lead": ("汇总截至当前所有待拨付的核销，按收款方分组并扣减追回款。",
                           "Gathers every payable redemption up to now, grouped by beneficiary "
                           "and net of clawbacks."),
    "settle.total": ("拨付合计（元）", "Total (yuan)"),
    "settle.approve": ("审核通过", "Approve"),
    "settle.pay": ("确认已拨付", "Mark as paid"),
    "settle.bank_ref": ("银行流水号", "Bank reference"),
    "settle.export_csv": ("下载 CSV", "Download CSV"),
    "settle.export_xlsx": ("下载 XLSX", "Download XLSX"),
    "settle.gross": ("应付（元）", "Gross (yuan)"),
    "settle.clawback": ("追回（元）", "Clawback (yuan)"),
    "settle.net": ("实付（元）", "Paid (yuan)"),
    "settle.cutoff": ("截止时间", "Cutoff"),
    "settle.empty": ("还没有结算批次。有待拨付的核销时，点击「生成结算批次」。",
                     "No settlement batches yet. When redemptions are payable, create one."),
    "settle.created": ("已生成结算批次 {id}。", "Settlement batch {id} created."),
    "settle.approved": ("结算批次已审核通过。", "The batch is approved."),
    "settle.paid": ("结算批次已标记为已拨付。", "The batch is marked as paid."),
    # reconciliation
    "recon.title": ("{year} 年度对账", "Reconciliation {year}"),
    "recon.ok": ("全部检查通过", "Every check passes"),
    "recon.fail": ("存在不一致，请查看下列未通过项", "Discrepancies found; see the failing checks"),
    "recon.check": ("检查项", "Check"),
    "recon.expected": ("应为", "Expected"),
    "recon.actual": ("实际", "Actual"),
    "recon.pass": ("通过", "Pass"),
    "recon.failed": ("未通过", "Fail"),
    "recon.discrepancies": ("差异明细", "Discrepancies"),
    # audit
    "audit.title": ("审计日志", "Audit log"),
    "audit.verify": ("校验哈希链", "Verify the hash chain"),
    "audit.verified": ("哈希链完整：已校验 {n} 条记录。",
                       "The chain is intact: {n} events checked."),
    "audit.broken": ("哈希链断裂：第 {seq} 条记录（{id}）— {problem}",
                     "The chain is broken at event {seq} ({id}): {problem}"),
    "audit.seq": ("序号", "Seq"),
    "audit.at": ("时间", "Time"),
    "audit.actor": ("操作人", "Actor"),
    "audit.action": ("动作", "Action"),
    "audit.object": ("对象", "Object"),
    "audit.summary": ("摘要", "Summary"),
    "audit.empty": ("没有符合条件的审计记录。", "No audit events match."),
    # year
    "year.title": ("{year} 年度政策", "Policy for {year}"),
    "year.pool": ("资金池（元）", "Pool (yuan)"),
    "year.rate": ("补贴比例", "Subsidy rate"),
    "year.category_rates": ("分类比例", "Rates by category"),
    "year.cap": ("单个企业上限（元）", "Cap per enterprise (yuan)"),
    "year.categories": ("可补贴类别", "Eligible categories"),
    "year.mode": ("结算方式", "Settlement mode"),
    "year.mode.reimbursement": ("先付后补", "Reimbursement"),
    "year.mode.deduction": ("直接抵扣", "Deduction"),
    "year.window": ("申领期", "Application window"),
    "year.eligible_from": ("发票最早日期", "Earliest invoice date"),
    "year.deadline": ("核销截止日", "Redemption deadline"),
    "year.version": ("政策版本", "Policy version"),
    "year.locked": ("已锁定（已发放算力券）", "Locked (vouchers issued)"),
    "year.unlocked": ("可修改", "Editable"),
    "year.create": ("设立 {year} 年度（默认政策）", "Create {year} with the default policy"),
    "year.created": ("已设立 {year} 年度。", "Year {year} created."),
    "year.close": ("年度关账", "Close the year"),
    "year.close_lead": ("关账将使剩余算力券过期、余额退回资金池，并冻结该年度："
                        "之后不再接受核销。此操作不可撤销。",
                        "Closing expires the remaining vouchers, returns their balances to the "
                        "pool and freezes the year: no more redemptions. This cannot be undone."),
    "year.close_review": ("核对并关账…", "Review and close…"),
    "year.close_confirm_title": ("确认关闭 {year} 年度", "Confirm closing {year}"),
    "year.close_type": ("请输入年度 {year} 以确认", "Type the year {year} to confirm"),
    "year.close_force": ("核销截止日前强制关账", "Close before the redemption deadline"),
    "year.close_reason": ("强制关账理由", "Reason for closing early"),
    "year.close_submit": ("确认关账", "Close the year"),
    "year.close_mismatch": ("输入的年度不一致，未关账。", "The year typed does not match; nothing "
                            "was closed."),
    "year.closed_msg": ("{year} 年度已关账：{n} 张算力券过期，退回 {amount} 元。",
                        "{year} is closed: {n} vouchers expired, {amount} yuan returned."),
    "year.report": ("年度报告", "Annual report"),
    # categories
    "cat.gpu": ("GPU 算力", "GPU compute"),
    "cat.npu": ("NPU 算力", "NPU compute"),
    "cat.accelerator": ("其他加速卡", "Other accelerators"),
    "cat.cpu": ("CPU", "CPU"),
    "cat.storage": ("存储", "Storage"),
    "cat.network": ("网络", "Network"),
    "cat.security": ("安全", "Security"),
    "cat.other": ("其他", "Other"),
    "cat.(rounding)": ("取整差额", "Rounding"),
    "beneficiary.provider": ("服务商", "Provider"),
    "beneficiary.enterprise": ("企业", "Enterprise"),
    # errors
    "csrf.failed": ("表单已失效（安全校验未通过），请刷新页面后重试。",
                    "The form has expired (security check failed). Reload the page and try "
                    "again."),
    "input.amount": ("请输入以元为单位、最多两位小数的正数金额。",
                     "Enter a positive amount in yuan with at most two decimals."),
    "input.required": ("此项必填。", "This is required."),
    "upload.col_row": ("行号", "Row"),
    "upload.col_field": ("列", "Column"),
    "upload.col_problem": ("问题", "Problem"),
    "upload.err.required": ("「{col}」不能为空", "{col} is required"),
    "upload.err.date": ("「{col}」不是有效日期（应为 YYYY-MM-DD）", "{col} is not a date "
                        "(YYYY-MM-DD)"),
    "upload.err.money": ("「{col}」不是有效金额（元，最多两位小数）", "{col} is not an amount in "
                         "yuan with at most two decimals"),
    "upload.err.number": ("「{col}」不是有效数量", "{col} is not a number"),
    "upload.err.category": ("「{col}」应为 {allowed} 之一", "{col} must be one of {allowed}"),
    "upload.err.mismatch": ("「{col}」与同一发票的第 {first} 行不一致", "{col} differs from row "
                            "{first} of the same invoice"),
    "upload.err.too_many": ("一个文件最多 {n} 张发票", "At most {n} invoices per file"),
    # policy what-if (issue 13)
    "nav.whatif": ("政策模拟", "Policy what-if"),
    "whatif.title": ("{year} 年政策模拟", "Policy what-if {year}"),
    "whatif.lead": ("以本年度真实发票和兑付，按每笔兑付实际发生的时间和顺序，在其他政策参数下"
                    "重新计算（企业行为不变）。留空名称的方案列不参与比较。",
                    "Replays the year's real invoices and redemptions, each on the day and in the "
                    "order it happened, under other policy parameters (enterprise behaviour does "
                    "not change). Scenario columns without a name are left out."),
    "whatif.parameter": ("参数", "Parameter"),
    "whatif.current": ("现行政策", "Current policy"),
    "whatif.scenario_n": ("方案 {n}", "Scenario {n}"),
    "whatif.name": ("方案名称", "Name"),
    "whatif.default_name": ("现行政策", "Current policy"),
    "whatif.pool": ("资金池（元）", "Pool (yuan)"),
    "whatif.rate": ("补贴比例（bp）", "Rate (bp)"),
    "whatif.cap": ("单个企业上限（元）", "Cap per enterprise (yuan)"),
    "whatif.rate_of": ("{cat}比例（bp）", "{cat} rate (bp)"),
    "whatif.categories": ("可补贴类别", "Eligible categories"),
    "whatif.mode": ("结算方式", "Settlement mode"),
    "whatif.eligible_from": ("最早可补贴发票日期", "Earliest eligible invoice date"),
    "whatif.growth": ("发票金额增长（bp）", "Invoice growth (bp)"),
    "whatif.vouchers": ("算力券", "Vouchers"),
    "whatif.as_issued": ("按实际发放", "As issued"),
    "whatif.follow_cap": ("随上限调整", "Follow the cap"),
    "whatif.unredeemed": ("计入未申领发票", "Include unredeemed invoices"),
    "whatif.group_by": ("分组", "Group by"),
    "whatif.by.enterprise": ("企业", "Enterprise"),
    "whatif.by.district": ("区县", "District"),
    "whatif.by.provider": ("服务商", "Provider"),
    "whatif.by.category": ("类别", "Category"),
    "whatif.by.month": ("月份", "Month"),
    "whatif.run": ("比较方案", "Compare"),
    "whatif.results": ("比较结果", "Results"),
    "whatif.xlsx": ("导出 XLSX", "Download XLSX"),
    "whatif.data_version": ("数据版本 {v}", "Data version {v}"),
    "whatif.total": ("补贴合计", "Total subsidy"),
    "whatif.pool_use": ("资金池使用", "Pool use"),
    "whatif.exhausted": ("资金池用尽日期", "Pool runs out on"),
    "whatif.refused": ("被拒绝的兑付", "Refused redemptions"),
    "whatif.at_cap": ("达到上限的企业", "Enterprises at the cap"),
    "whatif.top10": ("前 10 家企业占比", "Top 10 enterprises' share"),
    "whatif.gini": ("基尼系数", "Gini coefficient"),
    "whatif.actual": ("实际执行", "Actual"),
    "whatif.rows": ("{n} 行", "{n} rows"),
    "whatif.curve": ("累计补贴与资金池", "Cumulative subsidy against the pool"),
    "whatif.pool_line": ("资金池", "pool"),
    "whatif.winners": ("获益与受损企业", "Winners and losers"),
    "whatif.groups": ("分组明细：{name}", "By group: {name}"),
    "whatif.baseline_fen": ("基准（元）", "Baseline (yuan)"),
    "whatif.scenario_fen": ("方案（元）", "Scenario (yuan)"),
    "whatif.diff_fen": ("差额（元）", "Difference (yuan)"),
    "whatif.bucket.lose_more_5": ("减少超过 5%", "Lose > 5 %"),
    "whatif.bucket.lose_less_5": ("减少不到 5%", "Lose < 5 %"),
    "whatif.bucket.no_change": ("不变", "No change"),
    "whatif.bucket.gain_less_5": ("增加不到 5%", "Gain < 5 %"),
    "whatif.bucket.gain_more_5": ("增加超过 5%", "Gain > 5 %"),
}

ERRORS: dict[str, tuple[str, str]] = {
    "validation_error": ("提交的内容有误，请检查标出的项目。", "Some of what you entered is not "
                         "valid; check the fields named below."),
    "invalid_uscc": ("统一社会信用代码无效（校验位不符）。",
                     "The unified social credit code is not "
                     "valid (its check character does not match)."),
    "idempotency_key_reused": ("这张表单已用于另一次提交，请刷新页面后重试。",
                               "This form was already used for another request; reload and "
                               "try again."),
    "idempotency_in_flight": ("同一提交正在处理中，请稍候。", "The same submission is still being "
                              "processed; wait a moment."),
    "already_exists": ("该记录已存在。", "That already exists."),
    "invoice_duplicate": ("该发票已上传过，同一发票不能重复上传。", "That invoice has already been "
                          "posted; an invoice can be posted only once."),
    "pool_exhausted": ("本年度算力券资金池余额不足，无法按此金额发放。",
                       "The year's voucher pool does not have enough left for this amount."),
    "enterprise_cap_exceeded": ("超过该企业本年度的补贴上限。", "This would exceed the "
                                "enterprise's cap for the year."),
    "nothing_to_redeem": ("该发票没有可核销的补贴：可能尚未付款、已全部核销，"
                          "或没有符合条件的算力明细。",
                          "This invoice has no subsidy left to redeem: it may be unpaid, fully "
                          "redeemed, or have no eligible compute lines."),
    "other_subsidy": ("该项目已享受其他政策补贴（就高不重复），不能再核销。",
                      "This project was already subsidised under another programme (the "
                      "higher one only, never both)."),
    "provider_not_approved": ("该服务商不在本年度的入围名单中。", "The provider is not on this "
                              "year's approved list."),
    "related_party": ("服务商与企业为关联方，不予补贴。", "The provider and the enterprise are "
                      "related parties; no subsidy is paid."),
    "credit_blocked": ("该企业已被列入信用限制名单，不能申领或核销。", "The enterprise is on the "
                       "credit blacklist and cannot receive or redeem vouchers."),
    "no_usable_voucher": ("没有可用的算力券（已过期、已吊销、已用完或不属于本年度）。",
                          "No usable voucher: it is expired, revoked, used up, or for another "
                          "year."),
    "invoice_not_eligible": ("该发票的日期不在本年度可补贴范围内。", "The invoice is dated "
                             "outside what this year's policy accepts."),
    "year_closed": ("该年度已关账，不再接受此操作。", "The year is closed; this is no longer "
                    "possible."),
    "policy_locked": ("已发放算力券，政策已锁定。", "Vouchers have been issued, so the policy is "
                      "locked."),
    "invalid_state": ("当前状态下不能执行此操作（可能已被他人处理），请刷新后查看。",
                      "That is not possible in the current state (someone may have done it "
                      "already); reload to see."),
    "application_window_closed": ("本年度申领期未开放或已结束。", "Applications are not open for "
                                  "this year."),
    "payment_exceeds_total": ("收款合计将超过发票金额。", "Payments would exceed the invoice "
                              "total."),
    "reversal_exceeds_total": ("红冲金额超过发票剩余金额。", "The reversal is more than what is "
                               "left on the invoice."),
    "deadline_not_reached": ("尚未到核销截止日，不能关账（可选择强制关账并说明理由）。",
                             "The redemption deadline has not passed (you may force it with a "
                             "reason)."),
    "not_found": ("找不到该记录，或您无权查看。", "Not found, or not yours to see."),
    "forbidden": ("您的角色不能执行此操作。", "Your role may not do this."),
    "unauthenticated": ("登录已失效，请重新登录。", "You are no longer signed in; sign in again."),
    "too_many_requests": ("失败次数过多，请稍后再试。", "Too many failed attempts; try again "
                          "later."),
    "body_too_large": ("文件太大。", "The file is too large."),
    "database_unavailable": ("数据库暂时不可用，请稍后重试。", "The database is unavailable; try "
                             "again shortly."),
    "internal_error": ("系统出错，已记录，请稍后重试或联系管理员。", "Something went wrong on our "
                       "side; it has been logged."),
}

FIELDS: dict[str, tuple[str, str]] = {
    "approved_fen": ("批准金额", "approved amount"),
    "requested_fen": ("申请金额", "amount requested"),
    "amount_fen": ("金额", "amount"),
    "total_fen": ("价税合计", "total"),
    "tax_fen": ("税额", "tax"),
    "invoice_number": ("发票号码", "invoice number"),
    "invoice_code": ("发票代码", "invoice code"),
    "enterprise_uscc": ("企业统一社会信用代码", "enterprise USCC"),
    "service_start": ("服务开始日期", "service start"),
    "service_end": ("服务结束日期", "service end"),
    "issued_on": ("开票日期", "issue date"),
    "paid_on": ("收款日期", "payment date"),
    "reason": ("理由", "reason"),
    "project_name": ("项目名称", "project name"),
    "purpose": ("用途", "purpose"),
    "bank_reference": ("银行流水号", "bank reference"),
    "valid_until": ("有效期", "valid until"),
}


def normalise(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def translate(lang: str, key: str, **values: Any) -> str:
    pair = MESSAGES.get(key)
    text = _pick(pair, lang) if pair else key
    return text.format(**values) if values else text


def error_text(lang: str, code: str, status: int | None = None) -> str:
    pair = ERRORS.get(code)
    if pair:
        return _pick(pair, lang)
    if status and status >= 500:
        return _pick(ERRORS["internal_error"], lang)
    return _pick(ERRORS["invalid_state"], lang)


def field_label(lang: str, field: str) -> str:
    pair = FIELDS.get(field.split(".")[-1])
    return _pick(pair, lang) if pair else field


# --- the review chain (issue 14, part B): reviewer role, per-level inbox, trail --------------
MESSAGES.update({
    "role.reviewer": ("复核员", "Reviewer"),
    "nav.inbox": ("复核待办", "Review inbox"),
    "level.district": ("区县复核", "District review"),
    "level.city": ("市数据局审核", "City data bureau"),
    "level.finance": ("财政局审批", "Finance bureau"),
    "decision.approve": ("通过", "Approve"),
    "decision.send_back": ("退回上一级", "Send back"),
    "decision.reject": ("驳回", "Reject"),
    "inbox.title": ("复核待办 · {level}", "Review inbox · {level}"),
    "inbox.lead": ("以下事项正在等待本级复核。通过后转入下一级；退回和驳回须说明理由。",
                   "These wait for a decision at your level. Approving passes them to the next "
                   "level; sending back or rejecting needs a reason."),
    "inbox.district": ("辖区：{district}", "District: {district}"),
    "inbox.level": ("复核层级", "Review level"),
    "inbox.applications": ("待复核的申领", "Applications waiting"),
    "inbox.settlements": ("待复核的结算批次", "Settlement batches waiting"),
    "inbox.empty_applications": ("本级没有待复核的申领。", "No application waits at this level."),
    "inbox.empty_settlements": ("本级没有待复核的结算批次。",
                                "No settlement batch waits at this level."),
    "inbox.open": ("查看并复核", "Open and review"),
    "inbox.chain": ("复核流程", "Review chain"),
    "inbox.waiting_at": ("当前环节", "Waiting at"),
    "inbox.done": ("已办结", "Decided"),
    "inbox.trail": ("复核记录", "Review trail"),
    "inbox.trail_empty": ("尚无复核记录。", "No decisions yet."),
    "inbox.actor": ("经办人", "By"),
    "inbox.at": ("时间", "When"),
    "inbox.to": ("转至", "Moved to"),
    "inbox.reason_hint": ("退回或驳回时必填", "Required to send back or reject"),
    "inbox.amount_hint": ("末级通过时可核减批准金额（元），留空为申请金额",
                          "At the last level you may approve a lower amount (yuan); empty "
                          "approves what was asked"),
    "inbox.not_your_level": ("该事项当前不在本级，无需操作。",
                             "This does not wait at your level; nothing to do here."),
    "inbox.decided_msg": ("已提交复核意见：{decision}。", "Decision recorded: {decision}."),
    "inbox.application": ("申领", "Application"),
    "inbox.settlement": ("结算批次", "Settlement batch"),
    "inbox.decision": ("复核意见", "Decision"),
})
ERRORS.update({
    "review_incomplete": ("前序复核环节尚未全部通过，暂不能批准。",
                          "An earlier level of the review chain has not approved yet."),
    "wrong_review_level": ("该事项当前不在您的复核层级（可能已被他人处理），请刷新后查看。",
                           "This waits at another review level (someone may have decided it "
                           "already); reload to see."),
    "cannot_send_back": ("这是复核流程的第一级，无法退回；如不同意请驳回。",
                         "This is the first level of the review chain; there is nothing to send "
                         "it back to. Reject it instead."),
})

# Issue 15: the provider portal's 数电票 XML page (service/web/xml_upload.py).
MESSAGES.update({
    "nav.xml_upload": ("上传数电票 XML", "Upload e-invoice XML"),
    "xml.title": ("上传数电票 XML", "Upload fully digital invoice (数电票) XML"),
    "xml.lead": ("拖入或选择税务平台开具的数电票 XML 文件，或包含多张 XML 的 ZIP（最多 1000 张），"
                 "无需重新录入。XML 中没有的服务期间和合同编号请在下方填写；全部校验通过才保存，"
                 "否则一张也不保存。",
                 "Drop or choose the XML files the tax platform issued, or a ZIP of up to 1000 "
                 "of them: nothing is re-keyed. Give the service period and contract number "
                 "the XML does not carry below. All files are saved, or none."),
    "xml.files": ("XML 或 ZIP 文件", "XML or ZIP files"),
    "xml.service_start": ("服务开始日期", "Service start"),
    "xml.service_end": ("服务结束日期", "Service end"),
    "xml.contract_number": ("合同编号（可选）", "Contract number (optional)"),
    "xml.submit": ("校验并上传", "Check and upload"),
    "xml.meta_hint": ("ZIP 中各文件的服务期间不同时，可在 ZIP 内放入 meta.json："
                      "{\"文件名.xml\": {\"service_start\": \"2026-04-01\", \"service_end\": "
                      "\"2026-04-30\", \"contract_number\": \"…\"}}。",
                      "When the files of a ZIP have different service periods, put a meta.json "
                      "in it: {\"name.xml\": {\"service_start\": \"2026-04-01\", "
                      "\"service_end\": \"2026-04-30\", \"contract_number\": \"…\"}}."),
    "xml.results": ("每个文件的结果", "Result per file"),
    "xml.col_file": ("文件", "File"),
    "xml.col_result": ("结果", "Result"),
    "xml.col_detail": ("发票与明细类别 / 问题", "Invoice and line categories / problem"),
    "xml.accepted": ("已接受", "Accepted"),
    "xml.refused_file": ("被拒绝", "Refused"),
    "xml.not_saved": ("无误，但未保存", "Correct, not saved"),
    "xml.unmapped": ("未匹配类别，不予补贴", "Unmapped: not subsidised"),
    "xml.reversal": ("红字发票 {number} 冲减 {amount} 元", "red-letter invoice {number} takes "
                     "off {amount}"),
    "xml.refused": ("{n} 个文件未通过校验，未保存任何发票。请按下表修改后重新上传。",
                    "{n} file(s) failed the checks; no invoice was saved. Fix what the table "
                    "names and upload again."),
    "xml.saved": ("已保存 {n} 个文件，合计 {amount} 元。", "Saved {n} file(s), {amount} yuan in "
                  "total."),
    "xml.no_file": ("请选择 XML 或 ZIP 文件。", "Choose XML or ZIP files."),
    "xml.bad_type": ("只接受多个 .xml 文件，或一个 .zip 文件。",
                     "Send .xml files, or one .zip file."),
    "xml.same_name": ("有重名的文件。", "Two files have the same name."),
})

ERRORS.update({
    "seller_mismatch": ("销售方纳税人识别号不是本服务商的统一社会信用代码。",
                        "The seller's tax ID is not this provider's USCC."),
    "unknown_buyer": ("购买方不是已登记的企业。", "The buyer is not a registered enterprise."),
    "totals_mismatch": ("明细金额或税额合计与发票合计不符。",
                        "The lines' amounts or taxes do not add up to the invoice totals."),
    "invalid_amount": ("金额不对：须为元、最多两位小数（不四舍五入）；蓝字发票的金额不得为负数，"
                       "红字发票的金额不得为正数。",
                       "An amount is wrong: yuan with at most two decimals (never rounded), "
                       "not negative on a normal invoice, not positive on a red-letter one."),
    "invoice_void": ("税务系统显示该发票已作废。", "The tax system reports the invoice as void."),
    "unsafe_xml": ("文件含有 DTD、实体或外部引用，出于安全原因不予读取。",
                   "The file declares a DTD, entities or external references; it is not read."),
    "unsafe_archive": ("ZIP 文件不安全或无法读取（路径、大小、压缩比或嵌套）。",
                       "The ZIP is unsafe or unreadable (names, sizes, ratio or nesting)."),
    "invalid_xml": ("文件不是格式正确的 XML，或声明了无法识别的编码。",
                    "The file is not well-formed XML, or declares an encoding that cannot be "
                    "read."),
    "unsupported_media_type": ("文件类型不对。", "Wrong file type."),
})

# --- risk flags and the review queue (issue 14, docs/risk.md) ----------------------------------
MESSAGES.update({
    "status.under_review": ("复核中", "Under review"),
    "nav.reviews": ("风险复核", "Risk reviews"),
    "nav.risk_rules": ("风险规则", "Risk rules"),
    "reviews.title": ("风险复核队列", "Risk review queue"),
    "reviews.detail": ("复核详情", "Review"),
    "reviews.counts": ("待复核 {open} 笔，其中逾期 {overdue} 笔", "{open} open, {overdue} overdue"),
    "reviews.empty": ("没有符合条件的复核事项。", "No reviews match."),
    "reviews.score": ("风险分", "Score"),
    "reviews.provider": ("服务商", "Provider"),
    "reviews.subsidy": ("补贴金额", "Subsidy"),
    "reviews.flags": ("风险提示", "Flags"),
    "reviews.due": ("截止日", "Due"),
    "reviews.overdue": ("已逾期", "Overdue"),
    "reviews.open": ("查看", "Open"),
    "reviews.two": ("需两人复核", "Two reviewers"),
    "reviews.two_note": ("风险分达到二次复核阈值：需两位不同的复核人作出相同决定。",
                         "The score reaches the second threshold: two different reviewers must "
                         "give the same decision."),
    "reviews.evidence": ("证据数据", "Evidence"),
    "reviews.invoice": ("发票 {number} 明细", "Invoice {number} lines"),
    "reviews.category": ("类别", "Category"),
    "reviews.description": ("说明", "Description"),
    "reviews.quantity": ("数量", "Quantity"),
    "reviews.unit": ("单位", "Unit"),
    "reviews.unit_price": ("单价", "Unit price"),
    "reviews.amount": ("金额", "Amount"),
    "reviews.parties": ("双方登记信息对照", "The two parties' registered facts"),
    "reviews.decisions": ("复核记录", "Decisions"),
    "reviews.reason": ("理由", "Reason"),
    "reviews.reason_required": ("请填写理由。", "A reason is required."),
    "reviews.clear": ("放行（转为可支付）", "Clear (make payable)"),
    "reviews.reject": ("驳回（退回券余额）", "Reject (restore the vouchers)"),
    "reviews.done_open": ("已记录您的意见，等待第二位复核人。",
                          "Your decision is recorded; a second reviewer must agree."),
    "reviews.done_cleared": ("已放行，补贴转为可支付。", "Cleared: the subsidy is now payable."),
    "reviews.done_rejected": ("已驳回，券余额已退回。", "Rejected: the vouchers got their "
                              "balance back."),
    "reviews.status.open": ("待复核", "Open"),
    "reviews.status.cleared": ("已放行", "Cleared"),
    "reviews.status.rejected": ("已驳回", "Rejected"),
    "reviews.outcome.cleared": ("排除", "Cleared"),
    "reviews.outcome.confirmed": ("确认", "Confirmed"),
    "reviews.decision.clear": ("放行", "Clear"),
    "reviews.decision.reject": ("驳回", "Reject"),
    "rule.unit_price_outlier": ("单价异常", "Unit price outlier"),
    "rule.near_cap_split": ("临近上限拆分", "Split near the cap"),
    "rule.shared_contact": ("联系信息相同", "Shared contact"),
    "rule.new_entity": ("新设主体", "New entity"),
    "rule.burst": ("集中开票", "Invoice burst"),
    "rule.round_amount": ("整数金额", "Round amount"),
    "rule.reversal_after_payout": ("支付后红冲", "Reversal after payout"),
    "rule.provider_concentration": ("服务商集中", "Provider concentration"),
    "fact.contact_phone": ("联系电话", "Contact phone"),
    "fact.contact_email": ("联系邮箱", "Contact e-mail"),
    "fact.bank_account": ("银行账号", "Bank account"),
    "fact.legal_representative": ("法定代表人", "Legal representative"),
    "fact.registered_address": ("注册地址", "Registered address"),
    "fact.established_on": ("成立日期", "Established on"),
    "rules.title": ("风险规则命中与准确率", "Risk rules and their precision"),
    "rules.thresholds": ("复核阈值 {first}，二次复核阈值 {second}",
                         "Review threshold {first}, second-review threshold {second}"),
    "rules.rule": ("规则", "Rule"),
    "rules.enabled": ("启用", "Enabled"),
    "rules.weight": ("权重", "Weight"),
    "rules.flagged": ("命中", "Flagged"),
    "rules.confirmed": ("确认", "Confirmed"),
    "rules.cleared": ("排除", "Cleared"),
    "rules.precision": ("准确率", "Precision"),
    "rules.yes": ("是", "yes"),
    "rules.no": ("否", "no"),
    "dash.held": ("待复核核销 {n} 笔（逾期 {overdue} 笔）", "{n} held redemptions ({overdue} "
                  "overdue reviews)"),
})
ERRORS.update({
    "review_closed": ("该复核事项已经作出决定。", "This review has already been decided."),
    "second_reviewer_required": ("您已对该事项作出决定，需由另一位复核人确认。",
                                 "You have already decided this review; a different reviewer "
                                 "must agree."),
})
