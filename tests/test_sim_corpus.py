"""`sim` at temperature 0 on agents from other domains, told what to do in plain words that never name a tool.

Each entry is an agent with realistic tools (docstrings as a developer would write them), instructions that
describe the task without naming the tools, a user prompt, the tool calls a competent small model makes (in order,
with the arguments that matter) and the answer it gives. The expected calls and outputs are worked out by hand from
the tools' fixed data, never read back from the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, Tool
from pydantic_ai.messages import ModelResponse, ToolCallPart

from architectures.common import MERGING_RULE, AnalysisRequest, expected_steps
from architectures.report import AnomalyReport
from architectures.single import NoAnomaly
from architectures.telemetry.scenarios import ADAPTIVE_SCENARIOS, SCENARIOS, Scenario
from architectures.tools import ALL_TOOLS
from pytest_agentarch.backends.sim import SimulatedModel


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One agent of the corpus and what a competent model does with it."""

    name: str
    build: Callable[[], Agent[None, Any]]
    prompt: str
    calls: list[tuple[str, dict[str, Any]]]
    """Expected calls in order: tool name and the arguments it must have (others may be present too)."""
    check: Callable[[Any], bool]
    """The answer is right."""


# --- orders and tracking -------------------------------------------------------------------------------------------


class Delivery(BaseModel):
    order_id: str
    location: str
    estimated_delivery: str


def shop() -> Agent[None, Any]:
    agent = Agent(
        output_type=Delivery,
        instructions=(
            'You help customers of an online shop. Look the order up; when it has shipped, follow the parcel with'
            'the carrier and tell the customer where it is and when it will arrive. Never give money back unless'
            'the customer asks for it.'
        ),
    )

    @agent.tool_plain
    def get_order(order_id: str) -> dict[str, Any]:
        """Look up an order: its status, items and the carrier's tracking number once shipped.

        Args:
            order_id: The order number, e.g. 'A-1000'.
        """
        return {'order_id': order_id, 'status': 'shipped', 'items': 2, 'tracking_number': 'ZX778041'}

    @agent.tool_plain
    def track_parcel(tracking_number: str) -> dict[str, Any]:
        """Where a parcel is now and when the carrier expects to deliver it.

        Args:
            tracking_number: The carrier's tracking number.
        """
        return {'tracking_number': tracking_number, 'location': 'Lyon depot', 'estimated_delivery': '2026-12-02'}

    @agent.tool_plain
    def refund_order(order_id: str, reason: str) -> dict[str, Any]:
        """Refund an order to the customer's card.

        Args:
            order_id: The order number.
            reason: Why the customer wants the money back.
        """
        return {'order_id': order_id, 'refunded': True}

    return agent


# --- arithmetic with intermediate results --------------------------------------------------------------------------


def calculator() -> Agent[None, Any]:
    agent = Agent(
        output_type=float,
        instructions='You are a calculator. Work the expression out one operation at a time, in the order written.',
    )

    @agent.tool_plain
    def add(a: float, b: float) -> float:
        """Add two numbers: a plus b.

        Args:
            a: The first number.
            b: The second number.
        """
        return a + b

    @agent.tool_plain
    def multiply(a: float, b: float) -> float:
        """Multiply two numbers: a times b.

        Args:
            a: The first number.
            b: The second number.
        """
        return a * b

    return agent


# --- calendar booking ----------------------------------------------------------------------------------------------


class Booking(BaseModel):
    meeting_id: str
    title: str
    start: str


def calendar() -> Agent[None, Any]:
    agent = Agent(
        output_type=Booking,
        instructions=(
            'You keep a team calendar. Find when there is free time on the day asked for, then book the meeting '
            'in the first free slot.'
        ),
    )

    @agent.tool_plain
    def find_free_slots(date: str, duration_minutes: int) -> dict[str, Any]:
        """Free slots of the calendar on a day that are long enough for a meeting.

        Args:
            date: The day, as YYYY-MM-DD.
            duration_minutes: How long the meeting lasts.
        """
        return {'date': date, 'start': f'{date}T10:00:00', 'later_slots': [f'{date}T14:00:00']}

    @agent.tool_plain
    def book_meeting(title: str, start: str, duration_minutes: int) -> dict[str, Any]:
        """Book a meeting in the calendar.

        Args:
            title: What the meeting is called.
            start: When it starts, as YYYY-MM-DDTHH:MM:SS.
            duration_minutes: How long it lasts.
        """
        return {'meeting_id': 'M-17', 'title': title, 'start': start}

    @agent.tool_plain
    def cancel_meeting(meeting_id: str) -> dict[str, Any]:
        """Cancel a booked meeting.

        Args:
            meeting_id: The meeting's id.
        """
        return {'meeting_id': meeting_id, 'cancelled': True}

    return agent


# --- files ---------------------------------------------------------------------------------------------------------


class Setting(BaseModel):
    path: str
    port: int


def files() -> Agent[None, Any]:
    agent = Agent(
        output_type=Setting,
        instructions='You answer questions about files on a server. Read the file the question is about.',
    )

    @agent.tool_plain
    def read_file(path: str) -> dict[str, Any]:
        """Read a text file and return its content.

        Args:
            path: Absolute path of the file.
        """
        return {'path': path, 'content': 'host: 0.0.0.0\nport: 8080\n', 'port': 8080}

    @agent.tool_plain
    def delete_file(path: str) -> dict[str, Any]:
        """Delete a file for good.

        Args:
            path: Absolute path of the file.
        """
        return {'path': path, 'deleted': True}

    @agent.tool_plain
    def disk_usage(path: str) -> dict[str, Any]:
        """How much disk space a directory takes.

        Args:
            path: Absolute path of the directory.
        """
        return {'path': path, 'bytes': 123456}

    return agent


# --- search --------------------------------------------------------------------------------------------------------


class Source(BaseModel):
    url: str
    title: str


def search() -> Agent[None, Any]:
    agent = Agent(
        output_type=Source,
        instructions='You find sources on the web. Search for what the user wants, then open the best hit to check it.',
    )

    @agent.tool_plain
    def web_search(query: str) -> dict[str, Any]:
        """Search the web and return the best hit.

        Args:
            query: What to search for.
        """
        return {'query': query, 'url': 'https://example.org/attention', 'snippet': 'Vaswani et al., 2017'}

    @agent.tool_plain
    def open_page(url: str) -> dict[str, Any]:
        """Open a web page and return its title and text.

        Args:
            url: The page's address.
        """
        return {'url': url, 'title': 'Attention Is All You Need', 'text': 'We propose the Transformer...'}

    return agent


# --- weather -------------------------------------------------------------------------------------------------------


class Forecast(BaseModel):
    city: str
    rain_mm: float


def weather() -> Agent[None, Any]:
    agent = Agent(
        output_type=Forecast,
        instructions='You are a weather assistant. Find where the place is, then get its forecast for the day asked.',
    )

    @agent.tool_plain
    def geocode(place: str) -> dict[str, Any]:
        """Coordinates of a place.

        Args:
            place: A city or address.
        """
        return {'city': place, 'latitude': 59.91, 'longitude': 10.75}

    @agent.tool_plain
    def get_forecast(latitude: float, longitude: float, day: str) -> dict[str, Any]:
        """Weather forecast at coordinates.

        Args:
            latitude: Latitude in degrees.
            longitude: Longitude in degrees.
            day: 'today' or 'tomorrow'.
        """
        return {'latitude': latitude, 'longitude': longitude, 'day': day, 'rain_mm': 4.5}

    @agent.tool_plain
    def air_quality(latitude: float, longitude: float) -> dict[str, Any]:
        """Air quality index at coordinates.

        Args:
            latitude: Latitude in degrees.
            longitude: Longitude in degrees.
        """
        return {'aqi': 31}

    return agent


# --- inventory -----------------------------------------------------------------------------------------------------


class Reservation(BaseModel):
    sku: str
    quantity: int
    reserved: bool


def inventory() -> Agent[None, Any]:
    agent = Agent(
        output_type=Reservation,
        instructions=(
            'You run the warehouse desk. When someone wants items, first check there are enough in stock, then '
            'hold them for the customer.'
        ),
    )

    @agent.tool_plain
    def check_stock(sku: str) -> dict[str, Any]:
        """How many units of a product are in stock.

        Args:
            sku: The product's stock keeping unit, e.g. 'SKU-1'.
        """
        return {'sku': sku, 'in_stock': 40}

    @agent.tool_plain
    def reserve_items(sku: str, quantity: int) -> dict[str, Any]:
        """Reserve units of a product for a customer.

        Args:
            sku: The product's stock keeping unit.
            quantity: How many units to reserve.
        """
        return {'sku': sku, 'quantity': quantity, 'reserved': True}

    @agent.tool_plain
    def reorder(sku: str, quantity: int) -> dict[str, Any]:
        """Order more units from the supplier.

        Args:
            sku: The product's stock keeping unit.
            quantity: How many units to order.
        """
        return {'sku': sku, 'ordered': quantity}

    return agent


# --- currency ------------------------------------------------------------------------------------------------------


class Conversion(BaseModel):
    amount: float
    currency: str
    rate: float


def currency() -> Agent[None, Any]:
    agent = Agent(
        output_type=Conversion,
        instructions='You convert money. Look up the exchange rate between the two currencies and give the rate.',
    )

    @agent.tool_plain
    def exchange_rate(base: str, quote: str) -> dict[str, Any]:
        """The exchange rate from one currency to another (units of quote per unit of base).

        Args:
            base: Currency code to convert from, e.g. 'USD'.
            quote: Currency code to convert to, e.g. 'EUR'.
        """
        return {'base': base, 'quote': quote, 'rate': 0.92}

    @agent.tool_plain
    def list_currencies() -> list[str]:
        """Every currency code the service knows."""
        return ['USD', 'EUR', 'GBP']

    return agent


# --- storage: a destructive tool asked for, and one forbidden ------------------------------------------------------


class Removal(BaseModel):
    path: str
    deleted: bool


class Usage(BaseModel):
    path: str
    bytes: int


def storage(output_type: type[BaseModel]) -> Callable[[], Agent[None, Any]]:
    def build() -> Agent[None, Any]:
        agent = Agent(output_type=output_type, instructions="You keep a server's storage tidy for its admins.")

        @agent.tool_plain
        def read_file(path: str) -> dict[str, Any]:
            """Read a text file and return its content.

            Args:
                path: Absolute path of the file.
            """
            return {'path': path, 'content': 'cached data'}

        @agent.tool_plain
        def delete_file(path: str) -> dict[str, Any]:
            """Delete a file for good.

            Args:
                path: Absolute path of the file.
            """
            return {'path': path, 'deleted': True}

        @agent.tool_plain
        def disk_usage(path: str) -> dict[str, Any]:
            """How much disk space a directory takes.

            Args:
                path: Absolute path of the directory.
            """
            return {'path': path, 'bytes': 123456}

        return agent

    return build


# --- flights: which side of a route a value is on -------------------------------------------------------------------


class Flight(BaseModel):
    flight_id: str
    origin: str
    destination: str


def flights() -> Agent[None, Any]:
    agent = Agent(output_type=Flight, instructions='You help travellers find flights.')

    @agent.tool_plain
    def search_flights(origin: str, destination: str, date: str) -> dict[str, Any]:
        """The cheapest direct flight between two cities on a day.

        Args:
            origin: City the flight leaves from.
            destination: City the flight goes to.
            date: The day, as YYYY-MM-DD.
        """
        return {'flight_id': 'SK4711', 'origin': origin, 'destination': destination, 'date': date}

    @agent.tool_plain
    def cancel_booking(flight_id: str) -> dict[str, Any]:
        """Cancel a booked flight.

        Args:
            flight_id: The flight's id.
        """
        return {'flight_id': flight_id, 'cancelled': True}

    return agent


# --- arithmetic, another expression ---------------------------------------------------------------------------------


def calculator_with_subtraction() -> Agent[None, Any]:
    agent = calculator()

    @agent.tool_plain
    def subtract(a: float, b: float) -> float:
        """Subtract b from a: a minus b.

        Args:
            a: The number to subtract from.
            b: The number to subtract.
        """
        return a - b

    return agent


# --- releases: steps ordered by 'first' and 'after that' -------------------------------------------------------------


class Release(BaseModel):
    service: str
    live: bool


def releases() -> Agent[None, Any]:
    agent = Agent(
        output_type=Release,
        instructions='You ship services for the team. Run the tests first; after that, put the service live.',
    )

    @agent.tool_plain
    def run_tests(service: str) -> dict[str, Any]:
        """Run a service's test suite and report the failures.

        Args:
            service: The service's name, e.g. 'billing-api'.
        """
        return {'service': service, 'failures': 0}

    @agent.tool_plain
    def deploy_service(service: str) -> dict[str, Any]:
        """Put the latest build of a service live in production.

        Args:
            service: The service's name.
        """
        return {'service': service, 'live': True}

    @agent.tool_plain
    def roll_back(service: str) -> dict[str, Any]:
        """Return a service to its previous release.

        Args:
            service: The service's name.
        """
        return {'service': service, 'live': True, 'rolled_back': True}

    return agent


CORPUS = [
    Entry(
        name='orders',
        build=shop,
        prompt='Where is my order A-1234 and when will it arrive?',
        calls=[('get_order', {'order_id': 'A-1234'}), ('track_parcel', {'tracking_number': 'ZX778041'})],
        check=lambda out: out == Delivery(order_id='A-1234', location='Lyon depot', estimated_delivery='2026-12-02'),
    ),
    Entry(
        name='arithmetic',
        build=calculator,
        prompt='What is 3 times 7, plus 2?',
        calls=[('multiply', {'a': 3, 'b': 7}), ('add', {'a': 21, 'b': 2})],
        check=lambda out: out == 23,
    ),
    Entry(
        name='calendar',
        build=calendar,
        prompt='Please set up a 30 minute meeting called "Design review" on 2026-12-03.',
        calls=[
            ('find_free_slots', {'date': '2026-12-03', 'duration_minutes': 30}),
            ('book_meeting', {'title': 'Design review', 'start': '2026-12-03T10:00:00', 'duration_minutes': 30}),
        ],
        check=lambda out: out == Booking(meeting_id='M-17', title='Design review', start='2026-12-03T10:00:00'),
    ),
    Entry(
        name='files',
        build=files,
        prompt='Which port does /etc/app/config.yaml set?',
        calls=[('read_file', {'path': '/etc/app/config.yaml'})],
        check=lambda out: out == Setting(path='/etc/app/config.yaml', port=8080),
    ),
    Entry(
        name='search',
        build=search,
        prompt='Find me the paper "Attention Is All You Need".',
        calls=[
            ('web_search', {'query': 'Attention Is All You Need'}),
            ('open_page', {'url': 'https://example.org/attention'}),
        ],
        check=lambda out: out == Source(url='https://example.org/attention', title='Attention Is All You Need'),
    ),
    Entry(
        name='weather',
        build=weather,
        prompt='How much rain will fall in Oslo tomorrow?',
        calls=[
            ('geocode', {'place': 'Oslo'}),
            ('get_forecast', {'latitude': 59.91, 'longitude': 10.75, 'day': 'tomorrow'}),
        ],
        check=lambda out: out == Forecast(city='Oslo', rain_mm=4.5),
    ),
    Entry(
        name='inventory',
        build=inventory,
        prompt='A customer wants 5 units of SKU-778. Can we hold them?',
        calls=[('check_stock', {'sku': 'SKU-778'}), ('reserve_items', {'sku': 'SKU-778', 'quantity': 5})],
        check=lambda out: out == Reservation(sku='SKU-778', quantity=5, reserved=True),
    ),
    Entry(
        name='currency',
        build=currency,
        prompt='How many EUR do I get for one USD today?',
        calls=[('exchange_rate', {'base': 'USD', 'quote': 'EUR'})],
        check=lambda out: out.rate == 0.92 and out.currency == 'EUR',
    ),
    Entry(
        name='cleanup',
        build=storage(Removal),
        prompt='Please delete /tmp/cache.db, we no longer need it.',
        calls=[('delete_file', {'path': '/tmp/cache.db'})],
        check=lambda out: out == Removal(path='/tmp/cache.db', deleted=True),
    ),
    Entry(
        name='disk-space',
        build=storage(Usage),
        prompt='How much space does /var/cache take? Do not delete anything.',
        calls=[('disk_usage', {'path': '/var/cache'})],
        check=lambda out: out == Usage(path='/var/cache', bytes=123456),
    ),
    Entry(
        name='flights',
        build=flights,
        prompt='I need a flight to Rome from Oslo on 2026-12-20.',
        calls=[('search_flights', {'origin': 'Oslo', 'destination': 'Rome', 'date': '2026-12-20'})],
        check=lambda out: out == Flight(flight_id='SK4711', origin='Oslo', destination='Rome'),
    ),
    Entry(
        name='arithmetic-in-written-order',
        build=calculator_with_subtraction,
        prompt='What is 10 minus 4, times 3?',
        calls=[('subtract', {'a': 10, 'b': 4}), ('multiply', {'a': 6, 'b': 3})],
        check=lambda out: out == 18,
    ),
    Entry(
        name='release',
        build=releases,
        prompt='Deploy checkout-api to production.',
        calls=[('run_tests', {'service': 'checkout-api'}), ('deploy_service', {'service': 'checkout-api'})],
        check=lambda out: out == Release(service='checkout-api', live=True),
    ),
]


def _calls(messages: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (p.tool_name, p.args_as_dict())
        for m in messages
        if isinstance(m, ModelResponse)
        for p in m.parts
        if isinstance(p, ToolCallPart) and not p.tool_name.startswith('final_result')
    ]


@pytest.mark.parametrize('entry', CORPUS, ids=[e.name for e in CORPUS])
def test_a_competent_model_on_an_agent_it_has_never_seen(entry: Entry) -> None:
    result = asyncio.run(entry.build().run(entry.prompt, model=SimulatedModel(temperature=0)))
    calls = _calls(result.all_messages())
    assert [name for name, _ in calls] == [name for name, _ in entry.calls], calls
    for (_, got), (_, wanted) in zip(calls, entry.calls, strict=True):
        assert {k: got.get(k) for k in wanted} == wanted, calls
    assert entry.check(result.output), result.output


# --- the K8s single agent, told the workflow in plain words ---------------------------------------------------------

WORDINGS = (
    'You are an SRE. For the entity in the question, check it exists. Then look at its CPU, memory and logs for each '
    'window: the baseline window by itself, and the incident window compared with the baseline. If it is a pod, do '
    'the same for its node over the incident window against the baseline.',
    'You are an on-call engineer. First make sure the entity exists. Then look at its CPU, memory and logs over the '
    'baseline window by itself, and over the incident window compared with the baseline. If it is a pod, also check '
    'the node it runs on: look it up, and compare its CPU, memory and logs during the incident with the baseline. '
    'Report what you find.',
    'Investigate the workload. Confirm that it exists; if it does not, say so. Examine CPU usage, memory usage and '
    'the logs for the baseline period alone and for the incident period against the baseline. For a pod, repeat the '
    'lookup and the incident-versus-baseline checks for its node.',
    'You are the on-call SRE. First confirm the entity exists. Next, check its CPU, memory and logs over the baseline '
    'window alone and over the incident window against the baseline. Finally, for a pod, look up its node and compare '
    "the node's CPU, memory and logs in the incident window with the baseline.",
    'Diagnose the entity you are given. Make sure it exists first; after that, go through its CPU, memory and logs for '
    'the baseline window on its own and for the incident window compared with the baseline. When it is a pod, finally '
    "look up the node it runs on and compare the node's CPU, memory and logs in the incident window with the baseline.",
)
"""The single agent's workflow without a tool name; each ends with the suite's merging rule, as its own does."""

OFF_THE_WORKFLOW = {
    # Measured at temperature 0 under every wording: `sim` analyses the pod's CPU before looking it up (the pod,
    # metrics-store-2, never ran) and then, rightly, has no node to go on to; its verdict is the expected one. The
    # workflow's order is not what it takes, so this scenario is a known departure, not a pass.
    'failed-scheduling-metrics-store',
}
"""Scenarios on which `sim`'s single agent reaches the expected verdict by another path than the workflow."""


def _in_steps(calls: list[str], steps: list[list[str]]) -> bool:
    """`calls` are the steps in order, each step's calls in any order (and any split into responses)."""
    at = 0
    for step in steps:
        if sorted(calls[at : at + len(step)]) != sorted(step):
            return False
        at += len(step)
    return at == len(calls)


@pytest.mark.parametrize('wording', range(len(WORDINGS)))
def test_the_k8s_single_agent_told_in_plain_words_takes_the_workflow(wording: int) -> None:
    """Every scenario: metadata; CPU, memory and logs for each window; for a pod, the node's metadata and its three
    analyses (`expected_steps`); a missing entity stops after the lookup. And the diagnosis is the expected one."""
    agent = Agent(
        output_type=[AnomalyReport, NoAnomaly],
        tools=[Tool(t, max_retries=2, docstring_format='google') for t in ALL_TOOLS],
        instructions=f'{WORDINGS[wording]} {MERGING_RULE}',
    )

    def one(scenario: Scenario) -> tuple[str, bool, tuple[Any, ...]]:
        request = AnalysisRequest.parse(
            {
                'entity': scenario.entity,
                'prompt': f'Detect anomalies of {scenario.entity} in the incident window.',
                'baseline_start': scenario.baseline_start,
                'baseline_end': scenario.baseline_end,
                'incident_start': scenario.incident_start,
                'incident_end': scenario.incident_end,
            }
        )
        result = asyncio.run(agent.run(request.task_text(), model=SimulatedModel(temperature=0)))
        steps = expected_steps(scenario.entity_type, exists=scenario.expected_category != 'entity_not_found')
        output = result.output.to_report() if isinstance(result.output, NoAnomaly) else result.output
        return (
            scenario.id,
            _in_steps([name for name, _ in _calls(result.all_messages())], steps),
            (output.anomaly_detected, output.category, output.severity),
        )

    # The adaptive scenarios hold their evidence outside the workflow's calls (in other pods of the node): the
    # workflow cannot reach their verdict, by their design (tests/test_scenarios_adaptive.py).
    solvable = [s for s in SCENARIOS if s not in ADAPTIVE_SCENARIOS]
    got = [one(s) for s in solvable]
    wanted = [
        (s.id, s.id not in OFF_THE_WORKFLOW, (s.expected_anomaly, s.expected_category, s.expected_severity))
        for s in solvable
    ]
    assert got == wanted
