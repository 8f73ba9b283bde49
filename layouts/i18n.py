"""User-facing strings of the wall, region and embed pages: Chinese first, English with lang=en."""

from __future__ import annotations

LANGS: tuple[str, ...] = ("zh", "en")

# One entry per label: (Chinese, English). Keys are stable identifiers used by layouts/.
STRINGS: dict[str, tuple[str, str]] = {
    "app.title": ("三公里就业圈 · 就业服务大屏", "3-km Employment Circle · Service Wall"),
    "app.brand": ("三公里就业圈", "3-km Employment Circle"),
    # panels
    "panel.overview": ("就业总览", "Overview"),
    "panel.placements": ("就业安置", "Placements"),
    "panel.vacancies": ("岗位供给", "Vacancies"),
    "panel.key_groups": ("重点群体帮扶", "Key groups"),
    "panel.zero_households": ("零就业家庭动态清零", "Zero-employment households"),
    "panel.circle": ("三公里就业圈", "3-km employment circle"),
    # levels
    "level.province": ("省", "Province"),
    "level.city": ("市", "City"),
    "level.county": ("区县", "County"),
    "level.township": ("街道(乡镇)", "Township"),
    "level.community": ("社区(村)", "Community"),
    "child.city": ("各市", "cities"),
    "child.county": ("各区县", "counties"),
    "child.township": ("各街道(乡镇)", "townships"),
    "child.community": ("各社区(村)", "communities"),
    # common
    "as_of": ("数据截至", "Data as of"),
    "stale": ("数据更新于 {t}，已过期", "Stale since {t}"),
    "offline": ("连接中断，显示 {t} 的数据，已过期", "Offline — showing data of {t}, stale"),
    "no_data": ("暂无数据", "No data yet"),
    "waiting": ("数据准备中…", "Preparing data…"),
    "paused": ("已暂停", "Paused"),
    "tile.bad": ("拼接参数有误（应为 tile=列x行&pos=序号，序号从 0 起，不超过列×行−1），"
                 "现显示整幅画面",
                 "Bad tile parameters (expected tile=<cols>x<rows>&pos=<i>, i from 0 to "
                 "cols×rows−1): showing the whole canvas"),
    "auth.off": ("演示模式：未启用访问控制", "Demo mode: access control is off"),
    "legend.hidden": ("<{n} 表示不足{n}，* 表示为保护隐私不显示",
                      "<{n}: fewer than {n}; *: withheld to protect privacy"),
    "search": ("搜索地区名称…", "Search region…"),
    "wall": ("大屏", "Wall"),
    "unit.person": ("人", ""),
    "unit.post": ("个", ""),
    "unit.household": ("户", ""),
    "unit.times": ("人次", ""),
    "unit.day": ("天", "days"),
    "unit.yuan": ("元/月", "CNY/mo"),
    "rank.title": ("{children}排名", "Ranking of {children}"),
    "target": ("目标", "Target"),
    "done": ("完成", "Done"),
    "completion": ("完成率", "Completion"),
    # overview
    "kpi.today": ("今日就业", "Placed today"),
    "kpi.month": ("本月就业", "Placed this month"),
    "kpi.year": ("本年就业", "Placed this year"),
    "kpi.open": ("在招岗位", "Open postings"),
    "kpi.headcount": ("招聘人数", "Open headcount"),
    "kpi.ratio": ("求人倍率", "Jobs per seeker"),
    "kpi.seekers": ("求职人数", "Active job seekers"),
    "kpi.zero": ("零就业家庭(待清零)", "Zero-job households"),
    "latest": ("最新就业动态", "Latest placements"),
    "targets": ("年度目标完成情况", "Annual targets"),
    "own_detail": ("本社区概况", "This community"),
    "key_figures": ("主要指标", "Key figures"),
    # placements
    "trend": ("近12个月就业人数", "Placements, last 12 months"),
    "forms": ("就业形式(本年)", "Forms of employment (year)"),
    "groups.title": ("各群体登记、帮扶与就业(本年)", "Registered, assisted and placed (year)"),
    "within3": ("三公里内就业占比", "Placed within 3 km"),
    "within3.note": ("岗位距居住社区≤3公里", "job ≤ 3 km from home"),
    # vacancies
    "by_type": ("岗位类型(招聘人数)", "Open headcount by type"),
    "by_industry": ("行业分布(招聘人数)", "Open headcount by industry"),
    "salary": ("薪资区间(招聘人数)", "Salary bands (headcount)"),
    "newest": ("最新发布岗位", "Newest postings"),
    "new_month": ("本月新发布", "Posted this month"),
    "hiring": ("招{n}人", "{n} wanted"),
    # key groups
    "group": ("群体", "Group"),
    "registered": ("登记", "Registered"),
    "assisted": ("帮扶", "Assisted"),
    "placed": ("就业", "Placed"),
    "rate": ("就业率", "Rate"),
    "assist_kind": ("帮扶服务(本年人次)", "Assistance this year (services)"),
    "assist_total": ("本年帮扶服务", "Assistance this year"),
    # zero households
    "zh.outstanding": ("待清零", "Outstanding"),
    "zh.goal": ("目标：动态清零", "Goal: zero"),
    "zh.overdue": ("超30天未清零", "Overdue > 30 days"),
    "zh.identified": ("本年认定", "Identified this year"),
    "zh.cleared": ("本年清零", "Cleared this year"),
    "zh.avg_days": ("平均清零用时", "Average days to clear"),
    "zh.overdue_rank": ("超期未清零分布", "Overdue by region"),
    "zh.flow": ("认定与清零(本年)", "Identified vs cleared (year)"),
    "zh.all_clear": ("已全部清零", "All cleared"),
    "zh.none_year": ("本年无零就业家庭", "No zero-employment households this year"),
    # circle
    "circle.coverage": ("社区覆盖率", "Community coverage"),
    "circle.covered": ("已覆盖社区", "Covered communities"),
    "circle.communities": ("社区总数", "Communities"),
    "circle.note": ("3公里内有在招岗位的社区占比", "Communities with an open job within 3 km"),
    "circle.rank": ("{children}覆盖率", "Coverage of {children}"),
    "circle.nearby": ("3公里内在招岗位", "Open jobs within 3 km"),
    "circle.nearby_none": ("3公里内暂无在招岗位", "No open job within 3 km"),
    "km": ("{d}公里", "{d} km"),
    # services (SPEC 6.3)
    "panel.services": ("招聘会与培训", "Job fairs & training"),
    "sv.fairs": ("本年招聘会", "Job fairs this year"),
    "sv.fair_employers": ("参会企业", "Employers at fairs"),
    "sv.fair_posts": ("提供岗位", "Posts offered"),
    "sv.fair_visitors": ("进场求职", "Visitors"),
    "sv.fair_intentions": ("达成意向", "Intentions"),
    "sv.fair_views": ("直播观看", "Livestream views"),
    "sv.upcoming": ("近期招聘会(30天内)", "Upcoming fairs (30 days)"),
    "sv.upcoming_none": ("30天内暂无招聘会", "No fair in the next 30 days"),
    "sv.trainings": ("职业培训(本年)", "Training this year"),
    "sv.tr_started": ("参训", "Started"),
    "sv.tr_completed": ("结业", "Completed"),
    "sv.tr_certified": ("取证", "Certified"),
    "sv.tr_subsidised": ("补贴", "Subsidised"),
    "sv.tr_remote": ("线上", "Remote"),
    "sv.by_kind": ("培训类别(本年)", "Training by kind (year)"),
    "sv.more": ("面试·创业·满意度(本年)", "Interviews · loans · satisfaction"),
    "sv.interviews": ("面试", "Interviews"),
    "sv.remote_interviews": ("其中远程面试", "of which remote"),
    "sv.offer_rate": ("面试录用率", "Offer rate"),
    "sv.loans": ("创业担保贷款", "Start-up loans"),
    "sv.loan_amount": ("贷款金额", "Loan amount"),
    "sv.jobs_created": ("带动就业", "Jobs created"),
    "sv.score": ("满意度评分", "Satisfaction score"),
    "sv.satisfied": ("满意率(4–5分)", "Satisfied (4–5)"),
    "sv.responses": ("评价人次", "Responses"),
    "unit.fair": ("场", ""),
    "unit.firm": ("家", ""),
    "unit.loan": ("笔", ""),
    "unit.cny": ("元", "CNY"),
    "unit.score": ("分", "/ 5"),
    # full-employment communities (SPEC 6.2, 6.3)
    "panel.full_employment": ("充分就业社区", "Full-employment communities"),
    "fe.rate": ("达标率", "Compliance rate"),
    "fe.compliant": ("达标社区", "Compliant"),
    "fe.communities": ("社区总数", "Communities"),
    "fe.failing": ("各项未达标社区数", "Communities failing each criterion"),
    "fe.act_on": ("待整改社区", "Communities to act on"),
    "fe.act_none": ("全部社区达标", "Every community is compliant"),
    "fe.criteria": ("充分就业四项标准", "The four criteria"),
    "fe.met": ("达标", "Met"),
    "fe.not_met": ("未达标", "Not met"),
    "fe.status_ok": ("本社区已达充分就业标准", "This community meets the standard"),
    "fe.status_bad": ("本社区未达标：{n}项", "Not yet compliant: {n} criteria"),
    "fe.rank": ("{children}达标率", "Compliance of {children}"),
    "fe.employment_share": ("就业人员占比", "Employed share"),
    "fe.long_term": ("长期失业人员", "Long-term unemployed"),
    "fe.overdue": ("超30天未清零家庭", "Households overdue"),
    "fe.difficulty": ("困难人员已援助", "Hard-to-employ assisted"),
    "fe.n_failing": ("{n}项未达标", "{n} failing"),
    "fe.status": ("达标情况", "Status"),
    "fe.employed": ("就业人数", "Employed"),
    "fe.unemployed": ("登记失业人数", "Registered unemployed"),
    "fe.unemp_rate": ("登记失业率", "Registered unemployment rate"),
    "crit_short.employment": ("就业率", "Employment"),
    "crit_short.long_term": ("长期失业", "Long-term"),
    "crit_short.zero_households": ("零就业家庭", "Zero households"),
    "crit_short.assistance": ("困难援助", "Assistance"),
    "crit.employment": ("就业率≥95%", "Employment ≥ 95 %"),
    "crit.long_term": ("无长期失业", "No long-term unemployed"),
    "crit.zero_households": ("零就业家庭及时清零", "Zero households cleared"),
    "crit.assistance": ("困难人员援助全覆盖", "Every hard-to-employ person assisted"),
    # targets against 时序进度 (SPEC 6.2)
    "expected": ("时序进度", "Time elapsed"),
    "pace.ahead": ("超进度", "ahead"),
    "pace.behind": ("落后进度", "behind"),
    # reports (SPEC 8)
    "report.title": ("{name}就业工作进展情况表", "{name}: progress report"),
    "report.region": ("地区", "Region"),
    "report.total": ("合计", "Total"),
    "report.print": ("打印", "Print"),
    "report.xlsx": ("下载 Excel", "Download Excel"),
    "report.csv": ("下载 CSV", "Download CSV"),
    "report.metrics": ("主要指标", "Main figures"),
    "report.targets": ("目标任务完成情况", "Targets"),
    "report.no_targets": ("本年未下达目标", "No targets set for this year"),
    "report.note": ("完成率 = 完成 ÷ 目标；时序进度 = 本年已过天数 ÷ 全年天数。",
                    "Completion = done ÷ target; time elapsed = days of the year gone ÷ "
                    "days in the year."),
    # map (SPEC 6.3)
    "panel.map": ("三公里就业圈地图", "3-km circle map"),
    "map.title": ("社区3公里就业圈与在招岗位", "Communities, 3-km rings and open jobs"),
    "map.open": ("在招岗位", "Open postings"),
    "map.covered": ("已覆盖 (3公里内有岗位)", "Covered (a job within 3 km)"),
    "map.not_covered": ("未覆盖", "Not covered"),
    "map.headcount": ("招聘人数", "Headcount"),
    "map.colour_by": ("着色：{metric}", "Colour: {metric}"),
    "map.per_hex": ("按{km}公里六边形汇总", "Summed over {km} km hexagons"),
    "map.vacancy_key": ("在招岗位 (点越大人数越多)", "Open jobs (bigger = more posts)"),
    "map.vacancy_merged": ("岗位点按{km}公里六边形合并，人数相加",
                           "Job dots merged per {km} km hexagon, headcounts summed"),
    "map.ring_key": ("社区3公里圈", "3-km ring of a community"),
    "map.unlabelled": ("图上未标注：{names}", "Not named on the map: {names}"),
    "map.and_more": ("等{n}个", " ({n} in all)"),
    # errors
    "404.title": ("未找到该地区", "Region not found"),
    "404.body": ("地址中的地区代码或面板不存在，请检查链接或返回首页。",
                 "The region code or panel in the address does not exist."),
    "404.home": ("返回首页", "Home"),
}

ENUMS: dict[str, tuple[str, str]] = {
    # placement forms
    "form.employer": ("单位就业", "Employer"),
    "form.flexible": ("灵活就业", "Flexible"),
    "form.public_welfare": ("公益性岗位", "Public welfare"),
    "form.entrepreneurship": ("自主创业", "Self-employed"),
    "form.traineeship": ("就业见习", "Traineeship"),
    # vacancy types
    "type.full_time": ("全职", "Full-time"),
    "type.flexible": ("灵活就业", "Flexible"),
    "type.public_welfare": ("公益性", "Public welfare"),
    "type.internship": ("实习", "Internship"),
    "type.traineeship": ("见习", "Traineeship"),
    "type.shared": ("共享用工", "Shared"),
    # key groups
    "group.difficulty": ("就业困难人员", "Hard to employ"),
    "group.registered_unemployed": ("登记失业人员", "Registered unemployed"),
    "group.graduate": ("高校毕业生", "Graduates"),
    "group.poverty_alleviated": ("脱贫人口", "Out of poverty"),
    "group.veteran": ("退役军人", "Veterans"),
    "group.disabled": ("残疾人", "Disabled"),
    "group.returnee": ("返乡人员", "Returnees"),
    # assistance kinds
    "kind.guidance": ("职业指导", "Guidance"),
    "kind.referral": ("岗位推介", "Referral"),
    "kind.training": ("技能培训", "Training"),
    "kind.public_welfare_post": ("公岗安置", "Welfare post"),
    "kind.subsidy": ("补贴发放", "Subsidy"),
    "kind.visit": ("走访慰问", "Visit"),
    # job fair and training modes, training kinds (SPEC 6.1)
    "mode.onsite": ("现场", "On site"),
    "mode.online": ("网络", "Online"),
    "mode.livestream": ("直播", "Livestream"),
    "mode.remote": ("远程", "Remote"),
    "training.skills": ("技能培训", "Skills"),
    "training.entrepreneurship": ("创业培训", "Entrepreneurship"),
    "training.platform": ("平台就业培训", "Platform work"),
    "training.other": ("其他培训", "Other"),
}


def norm_lang(lang: str | None) -> str:
    """'en' when asked for English (en, en-US…), else Chinese."""
    return "en" if (lang or "").lower().startswith("en") else "zh"


def t(key: str, lang: str = "zh", **fmt: object) -> str:
    """The label for `key` in `lang`, formatted with `fmt`; the key itself when unknown."""
    pair = STRINGS.get(key) or ENUMS.get(key)
    if pair is None:
        return key
    text = pair[1] if norm_lang(lang) == "en" else pair[0]
    return text.format(**fmt) if fmt else text


def enum(kind: str, value: str, lang: str = "zh") -> str:
    """The label of an enum value (kind: form, type, group, kind); unknown values as given."""
    pair = ENUMS.get(f"{kind}.{value}")
    if pair is None:
        return value
    return pair[1] if norm_lang(lang) == "en" else pair[0]
