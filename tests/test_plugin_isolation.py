"""The plugin stays out of the way: another `arch` fixture keeps working, and a session with no agentarch item
changes nothing process-wide (collector thresholds, tracer provider, pydantic-ai instrumentation)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

OWN_ARCH_FIXTURE = """
    import pytest

    @pytest.fixture
    def arch():
        return 'x86_64'
"""

USES_OWN_ARCH = """
    def test_machine(arch):
        assert arch == 'x86_64'
"""


def test_a_conftest_arch_fixture_is_left_alone_even_with_architectures_registered(
    project: Callable[..., pytest.Pytester],
) -> None:
    # One process: each xdist worker collects with the same hooks as a lone process, and collection across workers is
    # covered by the xdist scenarios of tests/test_plugin.py.
    pytester = project(
        OWN_ARCH_FIXTURE
        + """
    import archkit
    from pytest_agentarch import architecture

    @architecture('one')
    async def one(inputs, model):
        return await archkit.run(lambda i: [['alpha']], inputs)
"""
    )
    pytester.makepyfile(test_machine=USES_OWN_ARCH)
    result = pytester.runpytest('-v')
    # One test, not one per registered architecture, and not skipped for an empty parameter set.
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(['*test_machine.py::test_machine PASSED*'])
    result.stdout.no_fnmatch_line('*test_machine?one?*')


def test_another_plugins_arch_fixture_is_left_alone(project: Callable[..., pytest.Pytester]) -> None:
    pytester = project(
        """
        import archkit
        from pytest_agentarch import architecture

        pytest_plugins = ['machines']

        @architecture('one')
        async def one(inputs, model):
            return await archkit.run(lambda i: [['alpha']], inputs)
        """
    )
    pytester.makepyfile(machines=OWN_ARCH_FIXTURE.replace('\n    ', '\n'), test_machine=USES_OWN_ARCH)
    result = pytester.runpytest('-v')
    result.assert_outcomes(passed=1)


def test_our_arch_fixture_still_parametrizes_beside_an_unrelated_fixture(
    project: Callable[..., pytest.Pytester],
) -> None:
    pytester = project(
        """
        import archkit
        from pytest_agentarch import architecture

        @architecture('one')
        async def one(inputs, model):
            return await archkit.run(lambda i: [['alpha']], inputs)

        @architecture('two')
        async def two(inputs, model):
            return await archkit.run(lambda i: [['beta']], inputs)
        """
    )
    pytester.makepyfile(
        test_ours="""
        def test_stable(arch):
            assert arch.repeat('go', runs=2).determinism == 1.0
        """
    )
    result = pytester.runpytest('-v')
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(['*test_stable?one? PASSED*', '*test_stable?two? PASSED*'])


GLOBALS_PROBE = """
    import gc

    from opentelemetry import trace
    from pydantic_ai import Agent

    from conftest import THRESHOLDS_AT_START

    def test_nothing_changed():
        assert gc.get_threshold() == THRESHOLDS_AT_START
        assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        assert Agent._instrument_default is False
"""


def test_a_session_without_agentarch_items_changes_nothing_process_wide(pytester: pytest.Pytester) -> None:
    # Architectures are registered (the plugin is active), but no dataset and no test uses `arch`.
    pytester.makeconftest(
        """
        import gc

        from pytest_agentarch import architecture

        THRESHOLDS_AT_START = gc.get_threshold()

        @architecture('idle')
        async def idle(inputs, model):
            return inputs
        """
    )
    pytester.makepyfile(test_plain=GLOBALS_PROBE)
    # In a fresh process: the tracer provider and Agent's instrumentation default are process-wide.
    result = pytester.runpytest_subprocess('-p', 'no:xdist')
    result.assert_outcomes(passed=1)
