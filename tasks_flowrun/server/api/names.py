"""Readable generated run names, like Prefect Server's (`adjective-animal`)."""
import random

_ADJECTIVES = (
    "amber agile ancient bold brave bright brisk calm clever cosmic crimson curious daring eager "
    "electric emerald fancy fearless gentle golden graceful happy hidden humble icy jolly keen "
    "lively lucky magnetic mellow merry mighty nimble noble olive patient polar proud quick "
    "quiet radiant rapid rustic scarlet serene silver smart snowy solar spicy steady stellar "
    "sturdy sunny swift tidy tireless vivid warm wise witty zealous"
).split()
_ANIMALS = (
    "albatross alpaca antelope badger beaver bison bobcat camel caribou cheetah cobra condor "
    "coyote crane dingo dolphin eagle falcon ferret finch flamingo fox gazelle gecko gibbon "
    "heron hyena ibis jackal jaguar kestrel koala lemur leopard lynx macaw marmot meerkat mink "
    "moose narwhal ocelot octopus orca otter owl panda panther pelican penguin puffin quail "
    "raccoon raven salmon seal sparrow squid stork tapir tiger toucan turtle walrus wombat yak zebra"
).split()

_random = random.SystemRandom()


def generate_run_name() -> str:
    return f"{_random.choice(_ADJECTIVES)}-{_random.choice(_ANIMALS)}"
