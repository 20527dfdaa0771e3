# Hardware layer: one module per board profile, each exposing make_board(local_config).
# A board provides: name, hw, button_pin, attach_button(handler), light driver, net_up(),
# rssi(), unique_id(), state_dir and tasks() (extra coroutines, e.g. the unix test harness).
BOARDS = ("esp32", "picow", "unix")


def load(local: dict):
    name = local.get("board")
    if name == "esp32":
        from podium.board import esp32

        return esp32.make_board(local)
    if name == "picow":
        from podium.board import picow

        return picow.make_board(local)
    if name == "unix":
        from podium.board import unix

        return unix.make_board(local)
    raise ValueError("unknown board " + str(name) + ", expected one of esp32, picow, unix")
