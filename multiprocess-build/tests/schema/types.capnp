# One method per row of the type mapping, in the style of Bitcoin Core's
# schemas.

@0x810ab5c502e5bd83;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("test::messages");

using Proxy = import "/mp/proxy.capnp";

enum Color {
    red @0;
    green @1;
    blue @2;
}

struct Point $Proxy.wrap("test::Point") {
    # A point in the plane.
    x @0 :Float64 = 1.5 $Proxy.name("pos_x");
    y @1 :Float64 $Proxy.name("pos_y");
}

struct Shape $Proxy.wrap("test::Shape") {
    name @0 :Text;
    color @1 :Color = green;
    points @2 :List(Point);
    label @3 :Text;
    hasLabel @4 :Bool;
    tags @5 :List(Pair(Text, Text));
    cacheKey @6 :Data $Proxy.skip;
}

struct Label $Proxy.wrap("test::Label") {
    rawName @0 :Text $Proxy.name("display_name");
    internalId @1 :UInt64 $Proxy.skip;
}

struct ParseError {
    position @0 :UInt32;
    message @1 :Text;
}

struct Tree {
    value @0 :Int32;
    children @1 :List(Tree);
    next @2 :Tree;
}

struct Task {
    name @0 :Text;
    callback @1 :Callback;
}

struct GlobalArgs $Proxy.count(0) {
    configPath @0 :Text;
}

struct Pair(Key, Value) {
    key @0 :Key;
    value @1 :Value;
}

struct PairInt64(Key) {
    key @0 :Key;
    value @1 :Int64;
}

interface Callback $Proxy.wrap("test::Callback") {
    destroy @0 (context :Proxy.Context) -> ();
    call @1 (context :Proxy.Context, value :Int32) -> (result :Int32);
}

interface Counter $Proxy.wrap("test::Counter") {
    destroy @0 (context :Proxy.Context) -> ();
    increment @1 (context :Proxy.Context, by :Int64) -> (result :Int64);
    get @2 (context :Proxy.Context) -> (result :Int64);
}

interface TypeTest $Proxy.wrap("test::TypeTest") {
    negate @0 (context :Proxy.Context, value :Bool) -> (result :Bool);
    mixNumbers @1 (context :Proxy.Context, a :Int8, b :Int16, c :Int32, d :Int64, e :UInt8, f :UInt16, g :UInt32, h :UInt64, x :Float32, y :Float64) -> (signed :Int64, unsigned :UInt64, floats :Float64);
    # Returns the sum of the signed, of the unsigned and of the float parameters.
    nextColor @2 (context :Proxy.Context, color :Color) -> (result :Color);
    upper @3 (context :Proxy.Context, text :Text) -> (result :Text);
    reverse @4 (context :Proxy.Context, data :Data) -> (result :Data);
    sum @5 (context :Proxy.Context, values :List(Int32)) -> (result :Int64);
    joinWords @6 (context :Proxy.Context, words :List(Text), separator :Text) -> (result :Text);
    transpose @7 (context :Proxy.Context, matrix :List(List(Int32))) -> (result :List(List(Int32)));
    concat @8 (context :Proxy.Context, chunks :List(Data)) -> (result :Data);
    scale @9 (context :Proxy.Context, point :Point, factor :Float64) -> (result :Point);
    centroid @10 (context :Proxy.Context, points :List(Point)) -> (result :Point, hasResult :Bool);
    describe @11 (context :Proxy.Context, shape :Shape) -> (result :Text, shape :Shape);
    invert @12 (context :Proxy.Context, map :List(Pair(Text, Data))) -> (result :List(Pair(Data, Text)));
    countWords @13 (context :Proxy.Context, text :Text) -> (result :List(PairInt64(Text)));
    mergeSettings @14 (context :Proxy.Context, settings :List(Pair(Text, List(Text)))) -> (result :List(Pair(Text, List(Text))));
    clamp @15 (context :Proxy.Context, value :Int32, max :Int32, hasMax :Bool) -> (result :Int32);
    find @16 (context :Proxy.Context, haystack :List(Text), needle :Text) -> (result :UInt32, hasResult :Bool);
    stats @17 (context :Proxy.Context, values :List(Float64), wantMean :Bool) -> (mean :Float64, count :UInt32);
    divide @18 (context :Proxy.Context, a :Int64, b :Int64) -> (result :Int64, remainder :Int64);
    split @19 (context :Proxy.Context, text :Text, at :UInt32) -> (head :Text, tail :Text);
    getAnswer @20 (context :Proxy.Context) -> (result :Int32) $Proxy.name("answer");
    rename @21 (context :Proxy.Context, label :Label) -> (result :Label);
    hidden @22 (context :Proxy.Context, visible :Int32, ignored :Int32 $Proxy.count(0), scheduler :Void, args :GlobalArgs) -> (result :Int32);
    parse @23 (context :Proxy.Context, text :Text) -> (error :Text $Proxy.exception("std::runtime_error"), detail :ParseError $Proxy.exception("ParseError"), result :Int64);
    forEach @24 (context :Proxy.Context, values :List(Int32), callback :Callback) -> (result :Int32);
    # Calls `callback` for each value and returns the sum of what it returned.
    makeCallback @25 (context :Proxy.Context, offset :Int32) -> (result :Callback);
    makeCallbacks @26 (context :Proxy.Context, offsets :List(Int32)) -> (result :List(Callback));
    callAll @27 (context :Proxy.Context, callbacks :List(Callback), value :Int32) -> (result :List(Int32));
    runTask @28 (context :Proxy.Context, task :Task) -> (result :Text);
    sumTree @29 (context :Proxy.Context, tree :Tree) -> (result :Int64);
    fail @30 (context :Proxy.Context, message :Text) -> ();
    panic @31 (context :Proxy.Context, message :Text) -> ();
    ping @32 (value :UInt64) -> (result :UInt64);
    # Returns `value` plus one; runs on the event loop.
    sleep @33 (context :Proxy.Context, millis :UInt32) -> ();
}
