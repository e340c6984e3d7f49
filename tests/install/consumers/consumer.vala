/* consumer.vala — a Vala program built against an installed asynccpu-glib
 * with `valac --pkg asynccpu-glib-1` (tests/install). Its own worker;
 * prints "vala: 49".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
Variant? square (Variant args, Cancellable? cancellable) throws Error {
    int64 x;

    args.get ("(x)", out x);
    return new Variant ("(x)", x * x);
}

int main (string[] args) {
    var worker = new ACpu.Worker ();
    worker.register ("square", square);
    if (ACpu.Worker.is_worker_process ())
        return worker.run ();

    try {
        var pool = new ACpu.ProcessTaskPool (null, 1);
        int64 y;
        pool.run ("square", new Variant ("(x)", (int64) 7)).get ("(x)", out y);
        pool.shutdown ();
        print ("vala: %lld\n", y);
    } catch (Error e) {
        printerr ("vala: %s\n", e.message);
        return 1;
    }
    return 0;
}
