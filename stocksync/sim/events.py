"""The simulated market's stock events: corporate actions, profile changes and quarterly
reports, pure functions of (seed, market, stock) consistent with its prices and factors.

- **Corporate actions** are the ex-dates behind the factors: each ex-date's ratio is its cash
  part × its bonus part (see :func:`stocksync.sim.universe._ex_dates`); the cash per share is
  the part's share of the close before the ex-date (4 decimals), so the action implies the
  factor step to within the rounding. Bonus shares are 送股 or 转增 by a hash. No rights issues.
- **Profiles** change at listing, when the stock enters or leaves ST (its name gains or loses
  ``ST``, or ``*ST`` in the run-up to a delisting), when about one stock in twelve is moved to
  another industry, and at each ex-date (shares grow with the factor, as the valuations do).
- **Reports**: one per quarter from the first full quarter listed, announced within the legal
  window; about one in twenty-five is restated once, months later, with other figures.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

from stocksync.domain import CorporateAction, FinancialReport, StockProfile
from stocksync.sim.calendar import SessionCalendar
from stocksync.sim.prices import evaluate
from stocksync.sim.universe import NEVER, Universe
from stocksync.sim.valuation import ValuationModel

INDUSTRIES = (
    "银行", "非银金融", "房地产", "建筑装饰", "建筑材料", "钢铁", "有色金属", "煤炭", "石油石化",
    "基础化工", "电力设备", "机械设备", "国防军工", "汽车", "家用电器", "轻工制造", "纺织服饰",
    "食品饮料", "农林牧渔", "医药生物", "商贸零售", "社会服务", "交通运输", "公用事业", "环保",
    "电子", "计算机", "通信", "传媒", "美容护理", "综合",
)  # fmt: skip
AREAS = (
    "北京", "上海", "广东", "深圳", "浙江", "江苏", "山东", "福建", "四川", "湖北", "湖南",
    "安徽", "河南", "河北", "辽宁", "天津", "重庆", "陕西", "江西", "云南", "新疆", "吉林",
)  # fmt: skip
INDUSTRY_SCHEME = "sim"
FIRST_REPORT_YEAR = 2005


def unit_hash(seed: int, code: str, *parts: object) -> float:
    """A number in [0, 1) keyed by the seed, the stock and ``parts``."""
    text = ":".join(str(p) for p in (seed, code, *parts))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class StockEvents:
    """The events of the stocks of ``universe`` (see the module docstring)."""

    def __init__(self, universe: Universe, cal: SessionCalendar, valuation: ValuationModel):
        self._u, self._cal, self._valuation = universe, cal, valuation

    # -- corporate actions -------------------------------------------------------------------

    def actions(self, row: int) -> list[CorporateAction]:
        """Every ex-date's action of stock ``row`` up to the calendar's end."""
        u, days = self._u, self._cal.days
        exes = [(j, int(g)) for j, g in enumerate(u.ex_g[row].tolist()) if g != NEVER]
        exes = [(j, g) for j, g in exes if g < len(days)]
        if not exes:
            return []
        before = np.array([g - 1 for _, g in exes], dtype=np.int64)
        closes = evaluate(u, np.full(before.size, row, dtype=np.int64), before).close / 100.0
        code = u.securities[row].code
        found = []
        for (j, g), close in zip(exes, closes.tolist(), strict=True):
            cash_part, bonus_part = float(u.ex_cash[row, j]), float(u.ex_bonus[row, j])
            cash = round(close * (1.0 - 1.0 / cash_part), 4) if cash_part > 1.0 else 0.0
            new_shares = round(bonus_part - 1.0, 6)
            transfer = unit_hash(u.seed, code, days[g], "transfer") < 0.6
            ex_day = days[g]
            found.append(
                CorporateAction(
                    code=code,
                    ex_date=ex_day,
                    cash_div=cash,
                    bonus_ratio=0.0 if transfer else new_shares,
                    transfer_ratio=new_shares if transfer else 0.0,
                    record_date=days[g - 1],
                    pay_date=ex_day if cash > 0 else None,
                    announce_date=days[max(0, g - 5)],
                    report_period=dt.date(ex_day.year - 1, 12, 31),
                )
            )
        return found

    # -- profiles ----------------------------------------------------------------------------

    def profiles(self, row: int) -> list[StockProfile]:
        """The full profile of stock ``row`` at listing and at each later change."""
        u, days = self._u, self._cal.days
        sec = u.securities[row]
        first = int(u.first_g[row])
        stop = int(min(u.end_g[row], len(days)))
        sessions = np.arange(first, stop, dtype=np.int64)
        is_st = evaluate(u, np.full(sessions.size, row, dtype=np.int64), sessions).is_st
        changes: dict[int, None] = {first: None}
        flips = np.flatnonzero(is_st[1:] != is_st[:-1]) + 1
        changes.update((first + int(i), None) for i in flips.tolist())
        exes = [int(g) for g in u.ex_g[row].tolist() if first < g < stop]
        changes.update((g, None) for g in exes)
        move = unit_hash(u.seed, sec.code, "move")
        moved_at = first + 250 + int(move * 4000) if move < 1 / 12 else NEVER
        if moved_at < stop:
            changes[moved_at] = None
        i = int(self._valuation.index[sec.code])
        shares, float_share = (
            float(self._valuation.shares[i]),
            float(self._valuation.float_share[i]),
        )
        area = AREAS[int(unit_hash(u.seed, sec.code, "area") * len(AREAS))]
        found = []
        for g in sorted(changes):
            st = bool(is_st[g - first])
            star = st and sec.delist_date is not None and bool(is_st[g - first :].all())
            name = ("*ST" if star else "ST" if st else "") + sec.name
            era = 1 if g >= moved_at else 0
            industry = INDUSTRIES[
                int(unit_hash(u.seed, sec.code, "industry", era) * len(INDUSTRIES))
            ]
            factor = float(u.cum_factor[row, sum(1 for e in exes if e <= g)])
            total = float(round(shares * factor))
            found.append(StockProfile(
                code=sec.code, valid_from=sec.list_date if g == first else days[g], name=name,
                is_st=st, industry=industry, industry_scheme=INDUSTRY_SCHEME, area=area,
                total_shares=total, float_shares=float(round(total * float_share)),
            ))  # fmt: skip
        return found

    # -- quarterly reports -------------------------------------------------------------------

    def reports(self, row: int) -> list[FinancialReport]:
        """Every version of every quarterly report of stock ``row`` announced by 2026-12-31."""
        u = self._u
        sec = u.securities[row]
        code, seed = sec.code, u.seed
        last = min(sec.delist_date or dt.date(2026, 12, 31), dt.date(2026, 12, 31))
        i = int(self._valuation.index[code])
        shares = float(self._valuation.shares[i])
        base = 2e8 + unit_hash(seed, code, "revenue") ** 2 * 6e10
        margin = -0.05 + 0.3 * unit_hash(seed, code, "margin")
        gross = 10.0 + 50.0 * unit_hash(seed, code, "gross")
        leverage = 0.8 + 1.7 * unit_hash(seed, code, "equity")  # equity ÷ annual revenue
        found: list[FinancialReport] = []
        originals: dict[dt.date, tuple[float, float]] = {}
        annual = base
        for year in range(FIRST_REPORT_YEAR, last.year + 1):
            annual *= 1.0 + (unit_hash(seed, code, "growth", year) - 0.35) * 0.6
            equity = annual * leverage
            if year < sec.list_date.year:
                continue
            for quarter, (month, day) in enumerate(((3, 31), (6, 30), (9, 30), (12, 31)), 1):
                period = dt.date(year, month, day)
                if period < sec.list_date:
                    continue
                announced = _announced(seed, code, period)
                if announced > last:
                    break
                season = quarter / 4 * (0.9 + 0.2 * unit_hash(seed, code, "season", period))
                revenue = round(annual * season, 2)
                profit = round(revenue * (margin + 0.04 * (unit_hash(seed, code, "np", period)
                                                           - 0.5)), 2)  # fmt: skip
                originals[period] = (revenue, profit)
                found.append(_report(code, period, announced, revenue, profit, shares, equity,
                                     gross, originals, seed))  # fmt: skip
                if unit_hash(seed, code, "restated", period) < 0.04:
                    later = announced + dt.timedelta(
                        days=60 + int(300 * unit_hash(seed, code, "when", period))
                    )
                    if later <= last:
                        change = 0.9 + 0.2 * unit_hash(seed, code, "change", period)
                        found.append(_report(code, period, later, round(revenue * change, 2),
                                             round(profit * change, 2), shares, equity, gross,
                                             originals, seed))  # fmt: skip
        return sorted(found, key=lambda r: (r.announce_date, r.report_period))


def _announced(seed: int, code: str, period: dt.date) -> dt.date:
    """The day the first version of ``period``'s report is out: within its legal window."""
    windows = {3: (10, 20), 6: (15, 47), 9: (10, 21), 12: (20, 100)}  # days after, span
    after, span = windows[period.month]
    return period + dt.timedelta(days=after + int(span * unit_hash(seed, code, "ann", period)))


def _report(
    code: str,
    period: dt.date,
    announced: dt.date,
    revenue: float,
    profit: float,
    shares: float,
    equity: float,
    gross: float,
    originals: dict[dt.date, tuple[float, float]],
    seed: int,
) -> FinancialReport:
    prior = originals.get(period.replace(year=period.year - 1))

    def yoy(now: float, then: float) -> float | None:
        return None if then == 0 else round((now / abs(then) - (1 if then > 0 else -1)) * 100, 4)

    return FinancialReport(
        code=code,
        report_period=period,
        announce_date=announced,
        eps=round(profit / shares, 4),
        roe=round(profit / equity * 100, 4),
        revenue=revenue,
        net_profit=profit,
        revenue_yoy=None if prior is None else yoy(revenue, prior[0]),
        net_profit_yoy=None if prior is None else yoy(profit, prior[1]),
        gross_margin=round(gross, 4),
        debt_ratio=round(20.0 + 65.0 * unit_hash(seed, code, "debt", period), 4),
    )
