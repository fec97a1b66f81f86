# Verify an event that Caddy (antom_webhook) forwarded to your app, using the Standard Webhooks
# scheme (https://www.standardwebhooks.com). Perl 5.10+, core modules only (Digest::SHA, MIME::Base64).
#
#   require '/path/to/standard_webhooks.pl';
#   binmode STDIN; read(STDIN, my $body, $ENV{CONTENT_LENGTH} || 0);   # CGI: the raw bytes, never re-encoded
#   my $v = antom_verify_event($ENV{ANTOM_FORWARD_SECRET}, \%ENV, $body); # or PSGI's $env, or { name => value }
#   if (!$v->{ok}) { print "Status: $v->{status}\r\n\r\n$v->{reason}"; exit }
#   my $event = JSON::PP::decode_json($body);    # trusted; $v->{id} is the webhook-id (deduplicate on it)
#   print "Status: 200\r\n\r\n";                 # 2xx = processed; anything else is delivered again later
#
# $secret is one secret, or an array ref of secrets while you rotate them (the event is authentic
# if it is signed with any of them): [$ENV{ANTOM_FORWARD_SECRET_NEW}, $ENV{ANTOM_FORWARD_SECRET}].
# Headers: a hash ref with any case (webhook-id) or CGI/PSGI names (HTTP_WEBHOOK_ID).
#
# Returns { ok => 1, id => webhook-id, timestamp => seconds }
#      or { ok => 0, status => 400|401|500, reason => why }:
# 401 bad signature, 400 missing/malformed headers or a timestamp outside the tolerance (default
# 5 minutes), 500 when the secret itself is unusable (a configuration error).
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256_base64);
use MIME::Base64 qw(decode_base64);

sub antom_verify_event {
    my ($secret, $headers, $body, $tolerance, $now) = @_;
    $tolerance = 300 unless defined $tolerance;
    $now = time() unless defined $now;
    my %h;
    while (my ($name, $value) = each %$headers) {
        (my $n = lc $name) =~ tr/_/-/;
        $n =~ s/^http-//;
        $h{$n} = $value;
    }
    my $fail = sub { return { ok => 0, status => $_[0], reason => $_[1] } };

    my @keys;
    for my $one (ref $secret eq 'ARRAY' ? @$secret : ($secret)) {
        (my $b64 = defined $one ? $one : '') =~ s/^whsec_//;
        return $fail->(500, 'secret is empty or not base64 (expected whsec_<base64>)')
            unless $b64 =~ m{^[A-Za-z0-9+/]+={0,2}$} && length($b64) % 4 == 0;
        push @keys, decode_base64($b64);
    }
    return $fail->(500, 'no secret given') unless @keys;
    for my $need (qw(webhook-id webhook-timestamp webhook-signature)) {
        return $fail->(400, "missing header $need") unless defined $h{$need} && $h{$need} =~ /\S/;
    }
    my $id = $h{'webhook-id'};
    (my $ts = $h{'webhook-timestamp'}) =~ s/^\s+|\s+$//g;
    return $fail->(400, 'webhook-timestamp is not unix seconds') unless $ts =~ /^[0-9]{1,12}$/;

    my $valid = 0;
    for my $key (@keys) {
        my $expected = hmac_sha256_base64("$id.$ts.$body", $key) . '=';   # Digest::SHA leaves out the padding
        for my $entry (split ' ', $h{'webhook-signature'}) {
            my ($version, $sig) = split /,/, $entry, 2;
            $valid = 1 if $version eq 'v1' && defined $sig && _antom_equal($sig, $expected);
        }
    }
    return $fail->(401, 'no valid v1 signature (wrong secret, or body/id/timestamp changed)') unless $valid;

    # Checked after the signature, so a 400 here means "authentic but outside the window".
    return $fail->(400, 'timestamp too old') if $ts < $now - $tolerance;
    return $fail->(400, 'timestamp too new (check the clocks)') if $ts > $now + $tolerance;
    return { ok => 1, id => $id, timestamp => $ts + 0 };
}

# Compares two strings in time that depends only on their length.
sub _antom_equal {
    my ($x, $y) = @_;
    return 0 unless length $x == length $y;
    my $diff = 0;
    $diff |= ord(substr $x, $_, 1) ^ ord(substr $y, $_, 1) for 0 .. length($x) - 1;
    return $diff == 0;
}

1;
