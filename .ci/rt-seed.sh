#!/usr/bin/env bash
# Seeds the CI's Request Tracker (.ci/setup.d/60-request-tracker.sh) with COUNT tickets in
# queue QUEUE for the RT import benchmark (docs/benchmarks.md): each with a reply, an
# internal comment, and every tenth with a file; a fifth of them resolved. Runs inside RT's
# own Perl (no HTTP), so seeding does not wait on the API the benchmark measures.
# Usage: .ci/rt-seed.sh [COUNT] [QUEUE]
set -euo pipefail
count="${1:-1000}"
queue="${2:-Bench}"
perl -I/usr/share/request-tracker5/lib -I/etc/request-tracker5 -MRT -MMIME::Entity -e '
    my ($count, $queue_name) = @ARGV;
    RT::LoadConfig(); RT::Init();
    my $root = RT::CurrentUser->new(RT->SystemUser); $root->Load("root");
    my $queue = RT::Queue->new(RT->SystemUser);
    $queue->Load($queue_name) or $queue->Create(Name => $queue_name) or die "no queue\n";
    for my $n (1 .. $count) {
        my $ticket = RT::Ticket->new($root);
        my ($id, undef, $message) = $ticket->Create(
            Queue => $queue->Id, Subject => "Bench ticket $n: printer on floor " . ($n % 9),
            Requestor => ["user" . ($n % 200) . "\@bench.example"],
            MIMEObj => MIME::Entity->build(Type => "text/plain", Charset => "UTF-8",
                Data => ["The printer on floor " . ($n % 9) . " shows error E$n.\n"]),
        );
        $id or die "ticket $n: $message\n";
        my $reply = MIME::Entity->build(Type => "multipart/mixed");
        $reply->attach(Type => "text/plain", Charset => "UTF-8",
            Data => ["Which model is it? Ticket $n.\n"]);
        $reply->attach(Type => "application/octet-stream", Filename => "log-$n.bin",
            Data => [join("", map { chr(($_ * $n) % 256) } 0 .. 2047)]) if $n % 10 == 0;
        $ticket->Correspond(MIMEObj => $reply);
        $ticket->Comment(Content => "Checked the spooler for $n.");
        $ticket->SetStatus("resolved") if $n % 5 == 0;
        print STDERR "$n\n" if $n % 100 == 0;
    }
' "$count" "$queue"
