# perl harness.pl <examples/verify> <cases>: see README.md.
use strict;
use warnings;
use File::Spec;
use MIME::Base64 qw(decode_base64);
require File::Spec->rel2abs("$ARGV[0]/standard_webhooks.pl");
require File::Spec->rel2abs("$ARGV[0]/antom_signature.pl");
open my $in, '<', $ARGV[1] or die "$ARGV[1]: $!";
while (my $line = <$in>) {
    chomp $line;
    next if $line eq '';
    my ($name, $format, $creds, $path, $now, $headers, $body) = split /\t/, $line;
    my %h = map { split /: /, $_, 2 } grep { length } split /\n/, decode_base64($headers);
    my (@list, %map);
    for (split /,/, $creds) {
        my ($label, $value) = split /:/, $_, 2;
        push @list, decode_base64($value);
        $map{$label} = decode_base64($value);
    }
    my $r = $format eq 'sw'
        ? antom_verify_event(\@list, \%h, decode_base64($body), 300, $now)
        : antom_verify_signature(exists $map{'*'} ? $map{'*'} : \%map, decode_base64($path), \%h, decode_base64($body));
    print join("\t", $name, $r->{ok} ? ('ok', $format eq 'sw' ? $r->{id} : $r->{keyVersion}) : ('fail', $r->{status}, $r->{reason})), "\n";
}
