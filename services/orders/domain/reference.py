"""Reference code lists: ISO 3166-1 alpha-2 countries and ISO 4217 currencies.

Both lists are the officially assigned, currently active codes (ISO 3166-1: 249 codes; ISO 4217 list one:
178 codes, as of early 2026 — XAD added, ANG, CUC, HRK, SLL and ZWL withdrawn). User-assigned codes such as
XK (Kosovo) are not ISO codes and are not listed. Keep these in sync with the ISO maintenance agencies'
amendments; the tests pin the counts so an edit is deliberate.
"""

from __future__ import annotations

# ISO 3166-1 alpha-2, officially assigned codes, grouped by first letter.
COUNTRY_CODES: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
    """.split()  # noqa: SIM905 (a row per initial letter reads and diffs better than quoted literals)
)

# ISO 4217 list one, active alphabetic codes (currencies, funds, and the X-codes), grouped by first letter.
CURRENCY_CODES: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN
    BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK
    DJF DKK DOP DZD
    EGP ERN ETB EUR
    FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD
    HKD HNL HTG HUF
    IDR ILS INR IQD IRR ISK
    JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT
    LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN
    NAD NGN NIO NOK NPR NZD
    OMR
    PAB PEN PGK PHP PKR PLN PYG
    QAR
    RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV
    WST
    XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX
    YER
    ZAR ZMW ZWG
    """.split()  # noqa: SIM905 (a row per initial letter reads and diffs better than quoted literals)
)

# Active ISO 4217 codes that are not money a parcel can be priced or paid in: fund codes, accounting units,
# precious metals, bond-market units, the testing code and "no currency".
NON_TENDER_CURRENCY_CODES: frozenset[str] = frozenset(
    """
    BOV CHE CHW CLF COU MXV USN UYI UYW
    XAD XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX
    """.split()  # noqa: SIM905 (a row per initial letter reads and diffs better than quoted literals)
)

# The currencies an order, its lines and its payment may use.
TENDER_CURRENCY_CODES: frozenset[str] = CURRENCY_CODES - NON_TENDER_CURRENCY_CODES
