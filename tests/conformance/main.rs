//! One suite, two stores: every store behaviour, written once and run against SQLite and, with
//! the `postgres` feature, against a real PostgreSQL server (`LOCKBOX_POSTGRES_URL`, which
//! `bash .ci/test` sets after starting a throwaway cluster). Each test gets a fresh database.
//!
//! Tests are named `<store>::<group>::<behaviour>`: `cargo test --test conformance sqlite::`
//! runs the SQLite half.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;
mod decisions;
mod harness;
mod hostile;
mod keys;
mod log;
mod nodes;
mod outbox;
mod policy;
mod search;
mod steps;
mod tamper;

/// Runs each behaviour of each group against each store.
macro_rules! conformance {
    ($($group:ident: [$($(#[$meta:meta])* $behaviour:ident),* $(,)?]),* $(,)?) => {
        mod sqlite {
            $(mod $group {
                $($(#[$meta])* #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    crate::$group::$behaviour::<crate::harness::Sqlite>().await
                })*
            })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(mod $group {
                $($(#[$meta])* #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    crate::$group::$behaviour::<crate::harness::Postgres>().await
                })*
            })*
        }
    };
}

conformance!(
    decisions: [
        a_statement_names_the_stored_record_it_answers,
        no_statement_without_a_signer,
        two_nodes_make_the_same_statement,
        a_grant_signed_by_the_approver_is_taken_and_kept,
        a_grant_the_approver_did_not_sign_is_refused_on_record,
        a_signature_counts_once_and_in_one_log,
        policy_changes_are_signed_by_the_version_before,
        denials_and_revocations_are_taken_signed_or_not,
        an_approver_signs_from_the_message_alone,
        a_grant_signed_by_ssh_keygen_is_taken,
        a_security_keys_signature_without_its_touch_is_refused,
        a_refused_policy_change_is_kept_in_the_log,
        signed_grants_race_on_two_nodes,
    ],
    log: [
        every_entry_is_proved_in_a_signed_checkpoint,
        a_store_without_a_signer_signs_nothing_until_given_one,
        an_insiders_rewrite_is_caught_by_a_held_checkpoint,
        a_record_format_2_database_builds_its_trees_when_migrated,
        a_schema_5_database_migrates_and_its_signed_logs_still_verify,
        an_insider_deleting_an_action_is_named,
        an_insider_editing_an_action_is_named,
        an_insider_changing_the_granter_is_named,
        an_insider_moving_the_grant_earlier_is_named,
        an_insider_fabricating_a_request_is_named,
        an_insider_truncating_the_tail_is_named,
        a_failing_or_lying_signer_never_blocks_a_step_or_gets_a_checkpoint_kept,
        a_revocation_taking_effect_at_the_store_clock_is_signed,
        an_insider_with_the_log_key_cannot_forge_a_grant,
        a_root_of_trust_without_the_pinned_key_is_refused,
        a_schema_6_database_loads_its_decisions_as_unsigned,
    ],
    steps: [
        each_step_is_saved_and_loads_back,
        a_refusal_propagated_with_a_question_mark_is_on_record,
        a_refusal_that_loses_a_race_is_still_recorded,
        a_taken_id_is_its_own_error_and_a_missing_one_not_found,
        grant_and_deny_at_once_exactly_one_wins,
        many_tasks_on_one_store_handle_exactly_one_wins,
        a_newer_database_is_refused,
        an_older_database_waits_for_its_migration,
        a_version_2_database_is_backfilled_by_its_migration,
        a_record_format_1_database_loads_and_migrates,
        two_approvals_through_the_store,
        connecting_never_writes_and_a_read_only_store_reads,
        the_sweeper_moves_exactly_the_overdue_requests,
        two_sweepers_at_once_handle_each_request_once,
        actions_through_the_store_are_refused_outside_the_window,
        chains_are_per_tenant,
        nodes_taking_turns_on_one_tenant_keep_one_chain,
    ],
    nodes: [
        every_ending_stepped_on_alternating_nodes,
        two_approvals_on_two_nodes_and_the_rest_alternating,
        a_revocation_on_the_node_that_saw_the_request_pending,
        a_race_then_a_step_on_the_losing_node,
        a_lost_race_on_one_node_leaves_no_older_copy,
        two_sweeps_on_two_nodes_one_of_which_saw_the_request_pending,
        a_draft_is_decided_under_a_policy_another_node_changed,
    ],
    keys: [
        each_step_repeated_with_its_key_takes_nothing,
        a_refusal_repeated_with_its_key_is_recorded_once,
        actions_raced_with_one_key_are_recorded_once,
        a_key_is_one_step_of_one_request,
        a_draft_repeated_with_its_key_answers_the_draft,
        a_step_ahead_of_the_clock_repeated_with_its_key_is_recorded_once,
    ],
    hostile: [
        an_action_stamped_far_ahead_is_refused_and_recorded_then_a_revocation_takes_effect,
        an_action_stamped_ahead_within_the_bound_is_kept_and_a_revocation_follows_it,
        a_delivery_run_on_a_fast_node_is_refused_and_a_revocation_follows,
        a_delivery_run_on_a_node_fast_within_the_bound_does_not_block_a_revocation,
        a_revocation_stamped_far_ahead_takes_effect_at_the_store_clock,
        a_denial_stamped_far_ahead_takes_effect_at_the_store_clock,
        a_grant_stamped_far_ahead_is_refused_and_recorded,
        a_new_request_stamped_far_ahead_is_not_saved,
        a_sweep_on_a_fast_node_moves_nothing,
        an_action_that_loses_a_race_with_a_revocation_is_kept,
        actions_racing_a_revocation_are_each_recorded_once,
        a_request_edited_in_the_database_is_never_stepped,
        a_store_given_a_clock_checks_steps_against_it,
    ],
    policy: [
        each_change_is_a_version_with_who_when_before_and_after,
        a_change_never_reaches_back_over_recorded_steps,
        a_pending_request_keeps_its_window_and_approvals,
        a_grant_decided_under_a_replaced_policy_is_decided_again,
        policy_changes_racing_grants_leave_lawful_requests,
        an_edited_policy_history_is_refused,
        a_grant_by_someone_never_designated_does_not_load,
        a_policy_change_reaches_the_approvers_before_and_after,
        policy_messages_are_retried_and_checked_before_sending,
        a_removed_policy_change_breaks_the_tenants_chain,
        a_policy_change_happens_now,
        a_policy_that_breaks_a_rule_is_never_set,
        a_removed_approvers_approval_no_longer_counts,
        a_revocation_or_denial_is_never_blocked_by_a_policy_change,
    ],
    search: [
        search_pages_match_the_in_memory_log,
        every_search_shape_uses_an_index,
        export_writes_every_matching_record_as_json_lines,
        bounds_outside_the_storable_years_match_the_log,
        request_listings_page_through_each_filter,
        outbox_views_list_pending_and_failed_messages,
        outbox_views_list_policy_messages_after_the_requests,
        every_listing_and_outbox_view_uses_an_index,
    ],
    tamper: [
        a_tampered_row_is_refused_on_load,
        garbage_in_any_column_is_refused_not_a_panic,
        chain_verification_names_each_kind_of_tampering,
        every_edit_of_a_realistic_store_is_caught_or_legal,
        verify_requests_names_each_request_that_does_not_load,
    ],
    outbox: [
        a_full_run_sends_each_message_once_and_records_it,
        a_failed_attempt_is_kept_with_its_error_and_retried_after_the_lease,
        a_missing_address_is_a_recorded_failure_until_the_directory_has_it,
        approvers_are_addressed_from_the_tenants_policy,
        an_expired_request_drops_its_decision_message_and_tells_the_engineer,
        delivery_moves_on_a_request_that_time_has_moved_on,
        two_runs_never_hold_one_message_and_a_lapsed_lease_is_taken_over,
        two_processes_delivering_at_once_send_each_message_exactly_once,
        #[ignore = "run by a_crashed_attempt_is_retried_after_its_lease in a child process"]
        crashing_delivery_child,
        a_crashed_attempt_is_retried_after_its_lease,
        a_tampered_message_is_refused_unsent,
        damaged_outbox_rows_are_reported_and_the_rest_delivered,
        a_message_the_trail_records_is_not_sent_again,
        a_lease_must_be_longer_than_zero,
        every_step_that_notifies_writes_its_message_in_its_own_transaction,
        random_runs_deliver_every_message_exactly_once,
    ],
);
