//! On-call schedules through the API: weekly turns handed off at 09:00 London time (also in
//! summer), overrides that win, and the checks on what a schedule names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, TestServer, dual_backend_test, page_csrf_token, page_text};
use serde_json::json;

dual_backend_test!(
    a_weekly_rotation_hands_off_at_nine_local_time_and_overrides_win,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let layer = json!({"people": ["ann@msp.example", "root@msp.example"],
                           "start": "2026-01-05T09:00:00", "turn": {"days": 7}});
        let schedule = json!({"name": "Service Desk", "time_zone": "Europe/London",
                              "layers": [layer]});
        assert_eq!(
            ann.post("/api/v1/schedules", schedule.clone()).await.status,
            403
        );
        for (bad, field) in [
            (
                json!({"name": "x", "time_zone": "Mars/Olympus", "layers": []}),
                "time_zone",
            ),
            (
                json!({"name": "x", "time_zone": "UTC",
                    "layers": [{"people": ["carol@acme.example"], "start": "2026-01-05T09:00:00",
                                "turn": {"days": 1}}]}),
                "layers",
            ),
            (
                json!({"name": "x", "time_zone": "UTC",
                    "layers": [{"people": [], "start": "2026-01-05T09:00:00",
                                "turn": {"days": 1}}]}),
                "layers",
            ),
        ] {
            let refused = admin.post("/api/v1/schedules", bad).await;
            assert_eq!(refused.status, 422, "{}", refused.text);
            assert_eq!(
                refused.body["errors"][0]["field"], field,
                "{}",
                refused.text
            );
        }
        let created = admin.post("/api/v1/schedules", schedule).await;
        assert_eq!(created.status, 201, "{}", created.text);
        let id = created.body["id"].as_i64().unwrap();
        let at = |time: &str| {
            let ann = ann.clone();
            let path = format!("/api/v1/schedules/{id}/on-call?at={time}");
            async move { ann.get(&path).await.body }
        };
        let winter = at("2026-01-05T10:00:00Z").await;
        assert_eq!(winter["person"], "ann@msp.example", "{winter}");
        assert_eq!(winter["until"], "2026-01-12T09:00:00Z");
        assert_eq!(
            at("2026-01-12T09:00:00Z").await["person"],
            "root@msp.example"
        );
        // In summer 09:00 in London is 08:00 UTC.
        let summer = at("2026-07-06T08:30:00Z").await;
        assert_eq!(summer["person"], "ann@msp.example", "{summer}");
        assert_eq!(summer["until"], "2026-07-13T08:00:00Z");
        assert_eq!(
            at("2026-07-06T07:59:59Z").await["person"],
            "root@msp.example"
        );

        let taken = ann
            .post(
                &format!("/api/v1/schedules/{id}/overrides"),
                json!({"person": "root@msp.example", "from": "2026-07-07T18:00:00Z",
                       "until": "2026-07-08T06:00:00Z"}),
            )
            .await;
        assert_eq!(taken.status, 201, "{}", taken.text);
        assert_eq!(taken.body["by"], "ann@msp.example");
        let night = at("2026-07-07T20:00:00Z").await;
        assert_eq!(night["person"], "root@msp.example", "{night}");
        assert_eq!(night["until"], "2026-07-08T06:00:00Z");
        assert_eq!(
            at("2026-07-08T06:00:00Z").await["person"],
            "ann@msp.example"
        );
        let backwards = ann
            .post(
                &format!("/api/v1/schedules/{id}/overrides"),
                json!({"from": "2026-07-08T06:00:00Z", "until": "2026-07-07T06:00:00Z"}),
            )
            .await;
        assert_eq!(backwards.status, 422);
        let listed = admin.get("/api/v1/schedules").await;
        assert_eq!(listed.body[0]["name"], "Service Desk");
        assert!(
            listed.body[0]["on_call"]["person"].is_string(),
            "{}",
            listed.text
        );
        assert_eq!(
            ann.get(&format!("/api/v1/schedules/{}/on-call", id + 100))
                .await
                .status,
            404
        );

        // The page shows who is on call now; an agent takes over from it.
        let (browser, _) = server.web_session("ann@msp.example").await;
        let page = page_text(&browser, format!("{}/on-call", server.url)).await;
        assert!(
            page.contains("Service Desk") && page.contains("Europe/London"),
            "{page}"
        );
        let sent = browser
            .post(format!("{}/on-call/{id}/take-over", server.url))
            .form(&[
                ("csrf_token", page_csrf_token(&page).as_str()),
                ("hours", "4"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
        let now = ann
            .get(&format!("/api/v1/schedules/{id}/on-call"))
            .await
            .body;
        assert_eq!(now["person"], "ann@msp.example", "{now}");
        let overrides = ann
            .get(&format!("/api/v1/schedules/{id}/overrides"))
            .await
            .body;
        // July's override is over: only those running or to come are listed.
        assert_eq!(overrides.as_array().unwrap().len(), 1, "{overrides}");
    }
);

dual_backend_test!(
    shifts_list_who_is_on_call_and_export_as_a_calendar,
    |backend: Backend| async move {
        let clock = opsdesk_app::ManualClock::starting_at("2026-01-05T00:00:00Z".parse().unwrap());
        let server = TestServer::service_desk_on_clock(backend, std::sync::Arc::new(clock)).await;
        let admin = server.admin();
        let ann = server.client(&server.token_for("ann@msp.example").await);
        let layer = json!({"people": ["ann@msp.example", "root@msp.example"],
                           "start": "2026-01-05T09:00:00", "turn": {"days": 7}});
        let created = admin
            .post(
                "/api/v1/schedules",
                json!({"name": "Service Desk", "time_zone": "Europe/London",
                       "layers": [layer]}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let id = created.body["id"].as_i64().unwrap();
        let taken = admin
            .post(
                &format!("/api/v1/schedules/{id}/overrides"),
                json!({"person": "root@msp.example", "from": "2026-01-07T18:00:00Z",
                       "until": "2026-01-08T06:00:00Z"}),
            )
            .await;
        assert_eq!(taken.status, 201, "{}", taken.text);

        let shifts = ann.get("/api/v1/shifts?days=14").await;
        assert_eq!(shifts.status, 200, "{}", shifts.text);
        let seen: Vec<(&str, &str, &str)> = shifts
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["person"].as_str().unwrap(),
                    s["from"].as_str().unwrap(),
                    s["until"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "ann@msp.example",
                    "2026-01-05T09:00:00Z",
                    "2026-01-07T18:00:00Z"
                ),
                (
                    "root@msp.example",
                    "2026-01-07T18:00:00Z",
                    "2026-01-08T06:00:00Z"
                ),
                (
                    "ann@msp.example",
                    "2026-01-08T06:00:00Z",
                    "2026-01-12T09:00:00Z"
                ),
                (
                    "root@msp.example",
                    "2026-01-12T09:00:00Z",
                    "2026-01-19T00:00:00Z"
                ),
            ]
        );
        let mine = ann
            .get("/api/v1/shifts?person=root@msp.example&days=14")
            .await;
        assert_eq!(mine.body.as_array().unwrap().len(), 2, "{}", mine.text);
        assert_eq!(ann.get("/api/v1/shifts?days=91").await.status, 422);

        let calendar = ann
            .send(ann.request(
                reqwest::Method::GET,
                "/api/v1/shifts.ics?person=ann@msp.example&days=14",
            ))
            .await;
        assert_eq!(calendar.status, 200);
        assert!(
            calendar
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/calendar"))
        );
        assert_eq!(
            calendar.text.matches("BEGIN:VEVENT").count(),
            2,
            "{}",
            calendar.text
        );
        assert!(calendar.text.contains("DTSTART:20260105T090000Z\r\n"));
        assert!(calendar.text.contains("SUMMARY:On call: Service Desk\r\n"));

        // The same calendar from the on-call page, for the one signed in.
        let (browser, _) = server.web_session("ann@msp.example").await;
        let page = page_text(&browser, format!("{}/on-call", server.url)).await;
        assert!(page.contains("/on-call/my-shifts.ics"));
        let download = browser
            .get(format!("{}/on-call/my-shifts.ics", server.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(download.contains("DTSTART:20260105T090000Z"), "{download}");
    }
);

dual_backend_test!(
    admins_make_a_layered_schedule_on_the_on_call_page,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let forms = server.web_forms("root@msp.example").await;
        let mut fields = vec![
            ("name", "Service Desk"),
            ("time_zone", "Europe/London"),
            ("people1", "ann@msp.example, root@msp.example"),
            ("start1", "2026-01-05T09:00"),
            ("turn1", "7"),
            ("turn_unit1", "days"),
            ("people2", "admin@example.com"),
            ("start2", "2026-01-05T09:00"),
            ("turn2", "1"),
            ("turn_unit2", "days"),
            ("restrict2", "on"),
            ("from2", "09:00"),
            ("to2", "17:00"),
        ];
        for day in ["monday", "tuesday", "wednesday", "thursday", "friday"] {
            fields.push(("day2", day));
        }
        // A start that is no date is named, and the form keeps what was typed.
        let mut wrong = fields.clone();
        wrong[3] = ("start1", "next monday");
        let (status, _, page) = forms.post("/on-call/schedules", &wrong).await;
        assert_eq!(status, 422, "{page}");
        assert!(
            page.contains("start1") && page.contains("next monday"),
            "{page}"
        );
        let (status, _, page) = forms.post("/on-call/schedules", &fields).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Service Desk"), "{page}");
        let schedules = server.admin().get("/api/v1/schedules").await.body;
        let layers = &schedules[0]["layers"];
        assert_eq!(
            layers[0]["people"],
            json!(["ann@msp.example", "root@msp.example"])
        );
        assert_eq!(layers[0]["turn"], json!({"days": 7}));
        assert_eq!(
            layers[1]["restriction"],
            json!({"days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                   "from": "09:00:00", "to": "17:00:00"}),
            "{schedules}"
        );
        // Someone opsdesk does not know is refused by the same checks as the API's.
        let mut stranger = fields.clone();
        stranger[0] = ("name", "Other");
        stranger[2] = ("people1", "nobody@nowhere.example");
        let (status, _, page) = forms.post("/on-call/schedules", &stranger).await;
        assert_eq!(status, 422, "{page}");
        let agent = server.web_forms("ann@msp.example").await;
        let (status, _, _) = agent.post("/on-call/schedules", &fields).await;
        assert_eq!(status, 403);

        // Editing starts from the schedule as it is: its layers, restriction and all.
        let id = schedules[0]["id"].as_i64().unwrap();
        let editing = forms.page(&format!("/on-call?edit={id}")).await;
        let form = editing.split("id=\"schedule-form\"").nth(1).unwrap();
        for shown in [
            "name=\"schedule_id\" value=\"",
            "value=\"ann@msp.example, root@msp.example\"",
            "value=\"2026-01-05T09:00\"",
            "value=\"friday\" checked",
            "value=\"17:00\"",
        ] {
            assert!(form.contains(shown), "{shown}: {form}");
        }
        // The layers change, and nothing else: the same schedule, renamed, weekly turns of 14 days.
        let mut edited = fields.clone();
        edited[0] = ("name", "Service Desk (day)");
        edited[4] = ("turn1", "14");
        let id_text = id.to_string();
        edited.push(("schedule_id", &id_text));
        let (status, _, page) = forms.post("/on-call/schedules", &edited).await;
        assert_eq!(status, 200, "{page}");
        let schedules = server.admin().get("/api/v1/schedules").await.body;
        assert_eq!(schedules.as_array().unwrap().len(), 1, "{schedules}");
        assert_eq!(schedules[0]["name"], "Service Desk (day)");
        assert_eq!(schedules[0]["layers"][0]["turn"], json!({"days": 14}));
        // The API replaces them the same way, and an agent may not.
        let mut body = schedules[0].clone();
        body.as_object_mut()
            .unwrap()
            .retain(|k, _| ["name", "time_zone", "layers"].contains(&k.as_str()));
        body["layers"].as_array_mut().unwrap().truncate(1);
        let replaced = server
            .admin()
            .put(&format!("/api/v1/schedules/{id}"), body.clone())
            .await;
        assert_eq!(replaced.status, 200, "{}", replaced.text);
        assert_eq!(replaced.body["layers"].as_array().unwrap().len(), 1);
        let ann = server.client(&server.token_for("ann@msp.example").await);
        assert_eq!(
            ann.put(&format!("/api/v1/schedules/{id}"), body.clone())
                .await
                .status,
            403
        );
        assert_eq!(
            server
                .admin()
                .put("/api/v1/schedules/999", body)
                .await
                .status,
            404
        );
    }
);
