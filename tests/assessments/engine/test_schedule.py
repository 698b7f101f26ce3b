from assessments.engine.schedule import budget_for, round_size


def test_the_default_budget_is_comparisons_per_essay_times_essays_over_two():
    budget = budget_for(n_essays=30, comparisons_per_essay=10, override=None, ceiling=1000)
    assert (budget.max_pairs, budget.source) == (150, "default")


def test_an_override_is_recorded_as_runner_override_and_capped_by_the_ceiling():
    assert budget_for(n_essays=30, comparisons_per_essay=10, override=40, ceiling=1000).max_pairs == 40
    capped = budget_for(n_essays=30, comparisons_per_essay=10, override=5000, ceiling=1000)
    assert (capped.max_pairs, capped.source) == (1000, "runner_override")
    assert capped.capped and capped.asked == 5000


def test_a_default_budget_above_the_ceiling_keeps_what_it_asked_for():
    budget = budget_for(n_essays=10_024, comparisons_per_essay=10, override=None, ceiling=20_000)
    assert (budget.max_pairs, budget.asked, budget.capped) == (20_000, 50_120, True)
    assert not budget_for(n_essays=30, comparisons_per_essay=10, override=None, ceiling=1000).capped


def test_a_thirty_essay_batch_spends_its_budget_in_at_most_six_rounds():
    used, rounds = 0, 0
    while (size := round_size(round_no=rounds + 1, n_essays=30, budget=150, used=used, max_rounds=6)) > 0:
        used += size
        rounds += 1
    assert used == 150
    assert rounds <= 6


def test_the_last_allowed_round_takes_what_is_left():
    assert round_size(round_no=2, n_essays=10, budget=100, used=40, max_rounds=2) == 60
    assert round_size(round_no=1, n_essays=10, budget=100, used=0, max_rounds=1) == 100
    assert round_size(round_no=3, n_essays=10, budget=100, used=100, max_rounds=6) == 0
