"""The demo world of SPEC 7, with dates relative to today.

Tests take the demo people from here (`person("张伟").id_number`, `phone("张伟")`) rather
than retyping them, so the demo world is written down once.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from typing import NamedTuple

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlmodel import Session, col, select

from epermit import identity, rules
from epermit.models import (
    Address,
    Case,
    Deregistration,
    FamilyLink,
    Organisation,
    OrgOperator,
    Permit,
    Person,
    Staff,
)
from epermit.services.references import new_reference
from epermit.sql import saved_id
from epermit.vocabulary import LinkBasis

HUKOU = {
    "430102": "湖南省长沙市芙蓉区",
    "510104": "四川省成都市锦江区",
    "450102": "广西壮族自治区南宁市兴宁区",
    "410102": "河南省郑州市中原区",
    "440102": "广东省广州市东山区",
    "360102": "江西省南昌市东湖区",
    "440111": "广东省广州市白云区",
    "440104": "广东省广州市越秀区",
    "420102": "湖北省武汉市江岸区",
    "350102": "福建省福州市鼓楼区",
    "440105": "广东省广州市海珠区",
}


class DemoPerson(NamedTuple):
    name: str
    id_number: str
    phone: str | None  # 张小明, a child, has none


PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("张伟", "430102199003071234", "13800000001"),
    DemoPerson("李娜", "510104199208152241", "13800000002"),
    DemoPerson("张小明", "430102201509051273", None),
    DemoPerson("王芳", "450102198801123368", "13800000003"),
    DemoPerson("刘洋", "410102199506214459", "13800000004"),
    DemoPerson("赵强", "410102199309144711", "13800000020"),
    DemoPerson("陈军", "440102197804195176", "13800000010"),
    DemoPerson("黄丽", "360102198702032880", "13800000011"),
    DemoPerson("周敏", "440111198707101466", "13800000012"),
    DemoPerson("吴刚", "440104199005253597", "13800000013"),
    # Turn 2: 陈军's tenants in 白云区 and a second landlord (SPEC 7, "More people").
    DemoPerson("孙丽", "42010219960412052X", "13800000021"),
    DemoPerson("马超", "360102198511020297", "13800000022"),
    DemoPerson("何静", "440111200103150603", "13800000023"),
    DemoPerson("郭鹏", "410102197907080931", "13800000024"),
    DemoPerson("林芳", "350102199002260164", "13800000025"),
    DemoPerson("罗明", "430102199309300191", "13800000026"),
    DemoPerson("高峰", "440105197501010794", "13800000030"),
)
_BY_NAME = {demo_person.name: demo_person for demo_person in PEOPLE}

ORGANISATIONS = [
    ("广州示例科技有限公司", "91440106MA5ABC120A", "employer", "黄丽"),
    ("广州市白云区示例小学", "12440111455123453T", "school", "周敏"),
    ("广州示例酒店有限公司", "91440104MA5HXT887K", "hotel", "吴刚"),
]

HOME = ("天河区", "广州市天河区天河路100号1201房")
# 陈军's second building: rooms 201–207, one tenant in each of 201–206, 207 vacant.
SANYUANLI_ROOMS = tuple(f"广州市白云区三元里大道200号{room}房" for room in range(201, 208))
SANYUANLI_TENANTS = (  # (tenant, room index, days until valid-until)
    ("孙丽", 0, 90),
    ("马超", 1, 5),
    ("何静", 2, 300),
    ("郭鹏", 3, -3),
    ("林芳", 4, 40),
    ("罗明", 5, 180),
)
GAOFENG_FLAT = ("海珠区", "广州市海珠区江南大道中300号501房")  # vacant, 高峰 answers for it
LINA_FLAT = ("番禺区", "广州市番禺区市桥街50号802房")  # vacant, owned by 李娜


def person(name: str) -> DemoPerson:
    """The demo person of that name, as seeded (KeyError for anyone else)."""
    return _BY_NAME[name]


def phone(name: str) -> str:
    """The phone the demo person of that name signs in with (ValueError for 张小明)."""
    number = person(name).phone
    if number is None:
        raise ValueError(f"{name} has no phone in the demo world")
    return number


def is_empty(session: Session) -> bool:
    return session.exec(select(Person.id).limit(1)).first() is None


def seed(session: Session, today: date, now: datetime) -> None:
    """Create the demo world; the caller commits."""
    people: dict[str, Person] = {}
    for name, id_number, phone_number in PEOPLE:
        row = Person(
            name=name,
            id_number=id_number,
            phone=phone_number,
            sex=identity.sex_of(id_number),
            ethnicity="汉族",
            birth_date=identity.birth_date_of(id_number),
            hukou=HUKOU[id_number[:6]],
        )
        session.add(row)
        people[name] = row
    session.flush()

    orgs: dict[str, Organisation] = {}
    for org_name, uscc, kind, operator in ORGANISATIONS:
        org = Organisation(name=org_name, uscc=uscc, kind=kind)
        session.add(org)
        session.flush()
        session.add(
            OrgOperator(organisation_id=saved_id(org), person_id=saved_id(people[operator]))
        )
        orgs[kind] = org

    def address(district: str, line: str, landlord: Person | None = None) -> Address:
        row = Address(district=district, line=line, landlord_id=landlord.id if landlord else None)
        session.add(row)
        session.flush()
        return row

    home = address(*HOME, landlord=people["陈军"])
    hotel_address = address("越秀区", "广州市越秀区东风中路8号广州示例酒店")
    haizhu = address("海珠区", "广州市海珠区江南大道中50号302房")
    baiyun = address("白云区", "广州市白云区机场路200号505房")
    rooms = [address("白云区", line, landlord=people["陈军"]) for line in SANYUANLI_ROOMS]
    address(*GAOFENG_FLAT, landlord=people["高峰"])
    address(*LINA_FLAT, landlord=people["李娜"])

    def permit(
        holder: Person,
        place: Address,
        valid_until: date,
        *,
        employer: Organisation | None = None,
        school: Organisation | None = None,
        hotel: Organisation | None = None,
    ) -> Permit:
        issued = rules.add_years(valid_until, -1)
        row = Permit(
            person_id=saved_id(holder),
            address_id=saved_id(place),
            issuing_authority=f"广州市公安局{place.district.removesuffix('区')}分局",
            issue_date=issued,
            valid_until=valid_until,
            continuity_start=issued,
            employer_id=employer.id if employer else None,
            school_id=school.id if school else None,
            hotel_id=hotel.id if hotel else None,
        )
        session.add(row)
        session.flush()
        return row

    d = timedelta
    permit(people["张伟"], home, today + d(days=10), employer=orgs["employer"])
    permit(people["李娜"], home, today + d(days=200))
    permit(people["张小明"], home, today + d(days=20), school=orgs["school"])
    permit(people["王芳"], hotel_address, today - d(days=20), hotel=orgs["hotel"])
    liu = permit(people["刘洋"], haizhu, today + d(days=100))
    permit(people["赵强"], baiyun, today + d(days=150))
    for tenant, room, days in SANYUANLI_TENANTS:
        employer = orgs["employer"] if tenant == "马超" else None
        permit(people[tenant], rooms[room], today + d(days=days), employer=employer)

    for holder, member, relationship in [
        ("张伟", "李娜", "spouse"),
        ("李娜", "张伟", "spouse"),
        ("张伟", "张小明", "child"),
        ("李娜", "张小明", "child"),
    ]:
        session.add(
            FamilyLink(
                person_id=saved_id(people[holder]),
                member_id=saved_id(people[member]),
                relationship=relationship,
                created_at=now,
                # The parents' and spouses' links stand for agreement given (SPEC 7).
                basis=LinkBasis.CONSENTED,
            )
        )

    left_on = today - d(days=30)
    case = Case(
        reference=new_reference("deregister", left_on),
        kind="deregister",
        permit_id=saved_id(liu),
        applicant_id=saved_id(people["刘洋"]),
        agent_id=saved_id(people["刘洋"]),
        outcome="deregistered",
        details={"declarant_role": "self", "reason": "left_city"},
        created_at=now - d(days=30),
    )
    session.add(case)
    session.flush()
    session.add(
        Deregistration(
            permit_id=saved_id(liu),
            declarant_role="self",
            declarant_id=saved_id(people["刘洋"]),
            reason="left_city",
            leave_date=left_on,
            declared_at=now - d(days=30),
            case_id=saved_id(case),
            district=haizhu.district,
        )
    )
    liu.deregistered = True
    session.flush()
    seed_register(session, today, now)
    seed_staff(session, now)


# --- Change of address (SPEC 7, 9.1): the rest of the address register ----------------------

# Two streets per district, ten standard addresses on each: 220 addresses to search, none of
# them the demo people's own.
REGISTER_STREETS: dict[str, tuple[str, str]] = {
    "越秀区": ("北京路", "中山五路"),
    "海珠区": ("新港西路", "昌岗中路"),
    "荔湾区": ("中山七路", "芳村大道中"),
    "天河区": ("体育西路", "天河北路"),
    "白云区": ("白云大道北", "广园中路"),
    "黄埔区": ("黄埔东路", "开创大道"),
    "番禺区": ("番禺大道北", "兴业大道"),
    "花都区": ("新华路", "迎宾大道"),
    "南沙区": ("进港大道", "环市大道南"),
    "从化区": ("河滨北路", "从城大道"),
    "增城区": ("府佑路", "港口大道"),
}
# Neighbours of 高峰's flat, so that a search for it has more than one result to choose from.
NEIGHBOURS = ("江南大道中300号502房", "江南大道中300号601房", "江南大道中300号602房")
# Where 赵强 lived before his current address (his registration history).
ZHAO_EARLIER = ("天河区", "广州市天河区体育西路10号803房")
ZHAO_MOVED_DAYS_AGO = 90
DORMITORY = ("天河区", "广州市天河区科韵路16号广州示例科技有限公司员工宿舍")


def register_lines() -> list[tuple[str, str]]:
    """(district, line) of every further register address."""
    lines = [("海珠区", f"广州市海珠区{rest}") for rest in NEIGHBOURS]
    for district, streets in REGISTER_STREETS.items():
        for street_no, street in enumerate(streets):
            for i in range(10):
                number = 8 + 12 * i + street_no * 3
                room = 101 + 100 * (i % 9) + street_no
                lines.append((district, f"广州市{district}{street}{number}号{room}房"))
    return lines


def seed_register(session: Session, today: date, now: datetime) -> None:
    """The address register beyond the demo people's homes, 赵强's earlier address and
    registration history, and every address indexed for search; the caller commits."""
    from epermit.models import RegistrationHistory
    from epermit.services import addresses

    # The demo's landlords own what they let, so 李娜 may move into her flat as its owner.
    session.execute(
        sa.update(Address)
        .where(col(Address.landlord_id).is_not(None))
        .values(owner_id=Address.landlord_id)
    )
    session.connection().execute(
        sa.insert(Address.__table__),  # type: ignore[attr-defined]
        [{"district": district, "line": line} for district, line in register_lines()],
    )
    employer = session.exec(select(Organisation).where(Organisation.kind == "employer")).first()
    session.add(
        Address(
            district=DORMITORY[0],
            line=DORMITORY[1],
            organisation_id=employer.id if employer else None,
        )
    )
    earlier = Address(district=ZHAO_EARLIER[0], line=ZHAO_EARLIER[1])
    session.add(earlier)
    session.flush()
    zhao = session.exec(select(Person).where(Person.id_number == person("赵强").id_number)).one()
    permit = session.exec(
        select(Permit).where(Permit.person_id == zhao.id, Permit.is_current)
    ).one()
    moved_on = today - timedelta(days=ZHAO_MOVED_DAYS_AGO)
    permit.registered_since = moved_on
    session.add(permit)
    session.add(
        RegistrationHistory(
            permit_id=saved_id(permit),
            from_address_id=saved_id(earlier),
            to_address_id=permit.address_id,
            moved_on=moved_on,
            confirmed_by_id=None,
            confirmed_at=now - timedelta(days=ZHAO_MOVED_DAYS_AGO),
        )
    )
    session.flush()
    addresses.reindex_all(session)


# --- Staff (SPEC 7, 12) ----------------------------------------------------------------------


class DemoStaff(NamedTuple):
    number: str
    name: str
    role: str
    district: str | None
    totp_secret: str


STAFF_PASSWORD = "demo-staff-2026"
STAFF: tuple[DemoStaff, ...] = (
    DemoStaff("440106001", "王警官", "officer", "天河区", "JBSWY3DPEHPK3PXP"),
    DemoStaff("440111001", "陈警官", "officer", "白云区", "KRSXG5CTMVRXEZLU"),
    DemoStaff("440100001", "刘所长", "supervisor", None, "MFRGGZDFMZTWQ2LK"),
)
_STAFF_BY_NAME = {member.name: member for member in STAFF}


def staff(name: str) -> DemoStaff:
    """The demo staff member of that name (KeyError for anyone else)."""
    return _STAFF_BY_NAME[name]


@cache
def _staff_password_hash() -> str:
    # The demo password is published (SPEC 7), so one hash (one salt) serves all three; made
    # once per process, as a memory-hard hash is slow on purpose and tests seed each time.
    return PasswordHasher().hash(STAFF_PASSWORD)


def seed_staff(session: Session, now: datetime) -> None:
    for member in STAFF:
        session.add(
            Staff(
                number=member.number,
                name=member.name,
                role=member.role,
                district=member.district,
                password_hash=_staff_password_hash(),
                totp_secret=member.totp_secret,
                created_at=now,
            )
        )
    session.flush()
