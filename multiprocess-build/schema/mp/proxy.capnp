# Wire schema shared with bitcoin-core/libmultiprocess. The file id and the
# declaration names fix every type id, so they must not change.

@0xcc316e3f71a040fb;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("mp");

annotation include(file): Text;
# Header to include in C++ code generated for the annotated file.

annotation includeTypes(file): Text;
# Header with type conversions to include in C++ generated code.

annotation wrap(interface, struct): Text;
# Native type that an interface or struct stands for.

annotation count(param, struct, interface): Int32;
# Number of native parameters one schema parameter maps to. Zero hides the
# parameter: the runtime fills it from the calling context.

annotation exception(param): Text;
# Marks a result field that carries an error of the named native type.

annotation name(field, method): Text;
# Native name of a field or method, when it differs from the schema name.

annotation skip(field): Void;
# Same as count(0).

interface ThreadMap $count(0) {
    # Lets a client create threads on the server and name the one each call
    # runs on.
    makeThread @0 (name :Text) -> (result :Thread);
    # Creates a server thread with the given name and returns its handle.
    makePool @1 (count :UInt32) -> ();
    # Creates `count` pool threads that run calls whose context has no thread.
}

interface Thread {
    # Handle of one thread of the process that exported it.
    getName @0 () -> (result :Text);
}

struct Context $count(0) {
    # Passed with each call that runs on a mapped thread.
    thread @0 :Thread;
    # Server thread the call runs on.
    callbackThread @1 :Thread;
    # Calling thread, on which the server's callbacks run.
}
