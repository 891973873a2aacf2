#!/usr/bin/perl
#
# typedefs.pl SRCDIR
#
# Print the type names txguard's sources define with typedef, sorted, one
# per line: the project's part of pgindent's typedefs list (typedefs.list
# at the top of the tree must be exactly this).
#
use strict;
use warnings;
use File::Find;

my $dir = shift // 'src';
my %names;
find(
	sub {
		return unless /\.[ch]$/ && !/^errcodes_table\.h$/;
		open(my $fh, '<', $_) or die "$File::Find::name: $!";
		local $/;
		my $text = <$fh>;
		close $fh;
		$text =~ s{/\*.*?\*/}{ }gs;    # comments
		# typedef struct|union|enum [Tag] { ... } Name;
		while ($text =~ /\btypedef\s+(?:struct|union|enum)\s*\w*\s*\{/g)
		{
			my $depth = 1;
			my $pos = pos($text);
			while ($depth > 0 && $pos < length($text))
			{
				my $c = substr($text, $pos++, 1);
				$depth++ if $c eq '{';
				$depth-- if $c eq '}';
			}
			$names{$1} = 1 if substr($text, $pos) =~ /^\s*(\w+)\s*;/;
			pos($text) = $pos;
		}
		# typedef <type> Name;  and  typedef <type> (*Name) (...);
		while ($text =~ /\btypedef\s+(?!struct\s*\w*\s*\{|union\s*\w*\s*\{|enum\s*\w*\s*\{)([^;{]*?)\s*;/g)
		{
			my $decl = $1;
			if ($decl =~ /\(\s*\*\s*(\w+)\s*\)/) { $names{$1} = 1; }
			elsif ($decl =~ /(\w+)\s*$/) { $names{$1} = 1; }
		}
	},
	$dir);
print "$_\n" foreach sort keys %names;
