-- Integrators became their own caller kind (issue 13): integrator:<name>, no longer
-- app:<name> (that is now a holder app). Additive, so pods of the previous version keep
-- working during the rollout: every app:<name> entitlement gets an integrator:<name>
-- twin (the previous version still reads the app:<name> row; this one reads the twin,
-- also for app:<name> certificates during the transition), and webhooks name the twin.
-- The app:<name> rows are removed by a migration of a later release.
insert into feed_entitlements
       (integrator, departments, licence_types, event_types, updated_at, updated_by)
select 'integrator:' || substr(integrator, length('app:') + 1), departments,
       licence_types, event_types, updated_at, updated_by
  from feed_entitlements
 where integrator like 'app:%'
on conflict (integrator) do nothing;
update feed_webhooks
   set integrator = 'integrator:' || substr(integrator, length('app:') + 1)
 where integrator like 'app:%';
